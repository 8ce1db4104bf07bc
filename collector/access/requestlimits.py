"""Request rate limits and the body size limit: an ASGI middleware just inside the access
check, so it knows who is asking (the :class:`~.roles.Principal` in the scope).

Every request is of one kind: ``ingest`` (``POST /api/v1/ingest``), ``stream`` (the live
stream), ``query`` (every other API route) or ``free`` (health, the dashboard's pages and
assets, which are not limited). A request of a limited kind takes a token from the bucket of
its credential (the principal's id) and from that of its client address; either empty
answers 429 with ``Retry-After``, counted in ``hostvitals_collector_rate_limited_total`` by
kind and by what was limited. Agents with no credential of their own (the open mode, a legacy
token) share one principal, so only their address counts.

A request body on any route but ingest (which has its own limits) larger than
``rate_limits.max_body_bytes`` is answered 413: at once when ``Content-Length`` says so, or
as soon as that many bytes of a chunked body arrived (counted as
``hostvitals_collector_request_body_too_large_total``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal

import orjson
from prometheus_client import CollectorRegistry, Counter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hostvitals.collector.access.ratelimit import RateLimiter, retry_after_header
from hostvitals.collector.access.roles import SCOPE_KEY, Principal
from hostvitals.collector.config.limits import RateLimitSettings
from hostvitals.collector.errors import error_body

Kind = Literal["ingest", "query", "stream", "free"]
KINDS: Final = ("ingest", "query", "stream")
BY: Final = ("credential", "address")
INGEST_PATH: Final = "/api/v1/ingest"
STREAM_PATH: Final = "/api/v1/stream"
_SHARED_KINDS: Final = ("anonymous", "legacy")


def request_kind(method: str, path: str) -> Kind:
    """Which limits a request falls under, from its method and path."""
    if path == INGEST_PATH and method == "POST":
        return "ingest"
    if path == STREAM_PATH:
        return "stream"
    if path == "/metrics" or (path.startswith("/api/") and path != "/api/v1/health"):
        return "query"
    return "free"


def client_address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def credential_key(principal: Principal | None) -> str | None:
    """The principal's id as a bucket key; None when it is shared (no credential of its own)."""
    if principal is None or principal.kind in _SHARED_KINDS or not principal.id:
        return None
    return f"{principal.kind}:{principal.id}"


@dataclass(frozen=True, slots=True)
class KindLimits:
    credential: RateLimiter
    address: RateLimiter


def limiters(settings: RateLimitSettings) -> dict[str, KindLimits]:
    s = settings
    return {
        "ingest": KindLimits(
            RateLimiter(s.ingest_per_credential_per_s, s.ingest_per_credential_burst),
            RateLimiter(s.ingest_per_address_per_s, s.ingest_per_address_burst),
        ),
        "query": KindLimits(
            RateLimiter(s.query_per_credential_per_s, s.query_per_credential_burst),
            RateLimiter(s.query_per_address_per_s, s.query_per_address_burst),
        ),
        "stream": KindLimits(
            RateLimiter(s.stream_per_credential_per_s, s.stream_per_credential_burst),
            RateLimiter(s.stream_per_address_per_s, s.stream_per_address_burst),
        ),
    }


class RequestLimits:
    def __init__(
        self,
        app: ASGIApp,
        *,
        settings: RateLimitSettings,
        registry: CollectorRegistry | None = None,
        on_ingest_refused: Callable[[str], None] | None = None,
        limits: dict[str, KindLimits] | None = None,
    ) -> None:
        self.app = app
        self.max_body_bytes = settings.max_body_bytes
        self.limits = limits if limits is not None else limiters(settings)
        self.limited = Counter(
            "hostvitals_collector_rate_limited",
            "Requests answered 429 by a rate limit, by kind (ingest, query, stream) and by "
            "what was over its limit (credential, address).",
            ("kind", "by"),
            registry=registry,
        )
        for kind in KINDS:
            for by in BY:
                self.limited.labels(kind, by)
        self.too_large = Counter(
            "hostvitals_collector_request_body_too_large",
            "Requests (other than ingest) answered 413: body over rate_limits.max_body_bytes.",
            registry=registry,
        )
        self._on_ingest_refused = on_ingest_refused

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        kind = request_kind(scope["method"], scope["path"])
        if kind != "free":
            refused = self._take(kind, scope)
            if refused is not None:
                by, wait_s = refused
                self.limited.labels(kind, by).inc()
                if kind == "ingest" and self._on_ingest_refused is not None:
                    self._on_ingest_refused("rate_limited")
                message = (
                    f"too many {kind} requests from this {by}: retry in "
                    f"{retry_after_header(wait_s)} s"
                )
                extra = [(b"retry-after", retry_after_header(wait_s).encode())]
                await answer(send, 429, "rate_limited", message, extra)
                return
        if kind == "ingest":
            await self.app(scope, receive, send)
            return
        await self._bounded(scope, receive, send)

    def _take(self, kind: str, scope: Scope) -> tuple[str, float] | None:
        limits = self.limits[kind]
        key = credential_key(scope.get(SCOPE_KEY))
        if key is not None:
            wait_s = limits.credential.acquire(key)
            if wait_s > 0:
                return "credential", wait_s
        wait_s = limits.address.acquire(client_address(scope))
        if wait_s > 0:
            return "address", wait_s
        return None

    async def _bounded(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.max_body_bytes
        declared = _content_length(scope)
        if declared is not None:
            if declared > limit:
                await self._too_large(send)
                return
            # The server delivers no more than Content-Length says.
            await self.app(scope, receive, send)
            return
        if not _chunked(scope):
            await self.app(scope, receive, send)
            return
        # A chunked body: read it here, up to the limit, then hand it on in one piece.
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            body += message.get("body", b"")
            if len(body) > limit:
                await self._too_large(send)
                return
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, send: Send) -> None:
        self.too_large.inc()
        message = f"request body larger than {self.max_body_bytes} bytes"
        await answer(send, 413, "too_large", message)


def _chunked(scope: Scope) -> bool:
    return any(
        key == b"transfer-encoding" and b"chunked" in value.lower()
        for key, value in scope["headers"]
    )


def _content_length(scope: Scope) -> int | None:
    for key, value in scope["headers"]:
        if key == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else None
    return None


async def answer(
    send: Send,
    status: int,
    kind: str,
    message: str,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """Send a JSON error answer in the API's error format."""
    body = orjson.dumps(error_body(kind, message))
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
