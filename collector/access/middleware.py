"""The access check in front of every route: an ASGI middleware, outermost, so that nothing
(the routers, the live view's pre-routing fast path, the static files) answers before it.

For each HTTP request it looks up the role the route needs in the route table, reads the
credential (``Authorization: Bearer`` or basic auth, else the session cookie), and answers
401 (no or an unknown credential, with ``WWW-Authenticate``), 403 (a role too low, or a
cookie-authenticated change without its CSRF token or from another origin) or 429 (an
address that keeps presenting unknown secrets, :mod:`.throttle`) itself; otherwise it leaves
the :class:`~hostvitals.collector.access.roles.Principal` in the scope under
:data:`~hostvitals.collector.access.roles.SCOPE_KEY` and passes the request on. Each refusal
is counted by reason; no secret ever reaches a message, a log line or a metric.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Final

import orjson
from prometheus_client import CollectorRegistry, Counter
from starlette.types import ASGIApp, Receive, Scope, Send

from hostvitals.collector.access import cookies
from hostvitals.collector.access.audit import Action, AuditLog, Result
from hostvitals.collector.access.authn import ANONYMOUS, ANONYMOUS_AGENT, Authenticator
from hostvitals.collector.access.certauth import certificate_principal, confirm
from hostvitals.collector.access.credentials import BadCredentials, from_authorization
from hostvitals.collector.access.roles import PUBLIC, SCOPE_KEY, Need, Principal, Role, allows
from hostvitals.collector.access.routes import RouteTable
from hostvitals.collector.access.throttle import key
from hostvitals.collector.access.users import csrf_token
from hostvitals.collector.errors import error_body
from hostvitals.collector.tls.peer import SCOPE_KEY as PEER_KEY
from hostvitals.collector.tls.peer import PeerCertificate

INGEST_PATH: Final = "/api/v1/ingest"
DENIAL_REASONS: Final = (
    "missing",
    "malformed",
    "unknown",
    "expired",
    "forbidden",
    "csrf",
    "no_certificate",
    "certificate_mismatch",
)
_AGENT_CHALLENGE: Final = [(b"www-authenticate", b"Bearer")]
_CHALLENGES: Final = [
    (b"www-authenticate", b'Basic realm="hostvitals", charset="UTF-8"'),
    (b"www-authenticate", b'Bearer realm="hostvitals"'),
]


class AccessControl:
    def __init__(
        self,
        app: ASGIApp,
        *,
        table: RouteTable,
        authn: Authenticator,
        registry: CollectorRegistry | None = None,
        on_ingest_refused: Callable[[str], None] | None = None,
        require_client_cert: bool = False,
        audit: AuditLog | None = None,
    ) -> None:
        self.app = app
        self.require_client_cert = require_client_cert
        self.table = table
        self.authn = authn
        self.denied = Counter(
            "hostvitals_collector_access_denied",
            "Requests refused by the access check (401 or 403), by reason and the role the "
            "route needs.",
            ("reason", "need"),
            registry=registry,
        )
        for reason in DENIAL_REASONS:
            for need in Role:
                self.denied.labels(reason, str(need))
        self._on_ingest_refused = on_ingest_refused
        self._audit = audit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = _route_path(scope)
        need = self.table.need(scope["method"], path)
        if need == PUBLIC:
            await self.app(scope, receive, send)
            return
        refusal = self._decide(scope, need)
        if refusal is None:
            await self.app(scope, receive, send)
            return
        status, reason, message = refusal
        if status == 429:
            if need is Role.AGENT and self._on_ingest_refused is not None:
                self._on_ingest_refused("throttled")
            await _throttled(send, message)
            return
        self.denied.labels(reason, str(need)).inc()
        if need is Role.AGENT and self._on_ingest_refused is not None:
            self._on_ingest_refused("unauthorized" if status == 401 else "forbidden")
        if status == 403 and self._audit is not None and self._first_refusal(scope, path):
            # A known caller tried what its role may not: worth a record, once a minute per
            # credential and route. (401s are counted only: anyone can make them, and a
            # flood of them would push real records out.)
            await asyncio.to_thread(
                self._audit.record_request,
                scope,
                Action.ACCESS_DENIED,
                target=f"{scope['method']} {path}",
                result=Result.DENIED,
                detail={"needs": str(need)},
            )
        await _answer(send, status, message, need, path, _browser_script(scope))

    def _first_refusal(self, scope: Scope, path: str) -> bool:
        principal: Principal | None = scope.get(SCOPE_KEY)
        if principal is None or self._audit is None:
            return False
        return self._audit.first_in_a_while("denied", principal.id, scope["method"], path)

    def _decide(self, scope: Scope, need: Need) -> tuple[int, str, str] | None:
        """None when the request may go on (its principal then in the scope), else
        (status, reason, message). On ingest, a verified client certificate is an identity
        of its own (see :mod:`.certauth`)."""
        peer: PeerCertificate | None = scope.get(PEER_KEY) if need is Role.AGENT else None
        if need is Role.AGENT and peer is None and self.require_client_cert:
            return (
                401,
                "no_certificate",
                "this collector takes frames only from agents with a client certificate "
                "signed by its tls.client_ca_file",
            )
        if peer is not None and _header(scope, b"authorization") is None:
            scope[SCOPE_KEY] = certificate_principal(peer)
            return None
        refusal = self._decide_credential(scope, need)
        if refusal is None and peer is not None:
            confirmed = confirm(scope[SCOPE_KEY], peer)
            if isinstance(confirmed, str):
                return 403, "certificate_mismatch", confirmed
            scope[SCOPE_KEY] = confirmed
        return refusal

    def _decide_credential(self, scope: Scope, need: Need) -> tuple[int, str, str] | None:
        """The check of the request's credential (or the open mode)."""
        authn = self.authn
        if authn.open():
            if need is Role.ENROLL:
                return (
                    403,
                    "forbidden",
                    "no enrollment token is configured: create one with "
                    "`hostvitals-collector enrollment create --name NAME`",
                )
            if need is Role.ADMIN and not authn.anonymous_may_administer():
                return (
                    403,
                    "forbidden",
                    "no credential is configured: create the first admin token with "
                    "`hostvitals-collector tokens add --name NAME --role admin`",
                )
            scope[SCOPE_KEY] = ANONYMOUS_AGENT if need is Role.AGENT else ANONYMOUS
            return None
        header = _header(scope, b"authorization")
        try:
            presented = from_authorization(header)
        except BadCredentials as exc:
            return 401, "malformed", str(exc)
        if presented is None:
            return self._by_session(scope, need)
        principal = authn.identify(presented)
        if principal is None:
            address = key("credential", _client(scope))
            wait = authn.throttle.refuse(address)
            if wait is not None:
                return 429, "throttled", str(wait)
            authn.throttle.failed(address)
            return 401, "unknown", "unknown or revoked credential"
        return self._admit(scope, principal, need)

    def _by_session(self, scope: Scope, need: Need) -> tuple[int, str, str] | None:
        secret = cookies.session_secret(scope)
        if secret is None:
            return 401, "missing", "this route needs a credential: log in, or send a bearer token"
        principal = self.authn.identify_session(secret)
        if principal is None:
            return 401, "expired", "the session has ended: log in again"
        if scope["method"] not in cookies.SAFE_METHODS:
            if not cookies.same_origin(scope):
                return 403, "csrf", "a change from another origin is refused"
            if not cookies.csrf_ok(scope, csrf_token(secret)):
                return 403, "csrf", "a change by a logged-in user needs its X-CSRF-Token header"
        return self._admit(scope, principal, need)

    def _admit(self, scope: Scope, principal: Principal, need: Need) -> tuple[int, str, str] | None:
        peer_route = principal.role is Role.PEER and self.table.peer_may(
            scope["method"], _route_path(scope)
        )
        if not allows(principal.role, need, peer_route=peer_route):
            scope[SCOPE_KEY] = principal  # for the audit record; the request goes no further
            return 403, "forbidden", _too_low(principal, need)
        scope[SCOPE_KEY] = principal
        return None


def _too_low(principal: Principal, need: Need) -> str:
    if need is Role.AGENT:
        return "only an agent credential may push frames"
    if need is Role.ENROLL:
        return "only an enrollment token may enroll an agent"
    if principal.role is Role.ENROLL:
        return "an enrollment token may only enroll an agent (POST /api/v1/agents/enroll)"
    if principal.role is Role.PEER:
        return "the peer token may call only the routes replicas ask each other for"
    return f"this route needs the {need} role; the credential has the {principal.role} role"


def _route_path(scope: Scope) -> str:
    """The path the router matches: without the ``root_path`` a proxy mounted the app at."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root) : len(root) + 1] in ("/", ""):
        return path[len(root) :] or "/"
    return path


_header = cookies.header


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def _browser_script(scope: Scope) -> bool:
    """Whether a browser's script sent the request (fetch, EventSource): a basic-auth
    challenge would pop the browser's own login box over the dashboard's login form."""
    mode = cookies.header(scope, b"sec-fetch-mode")
    return mode is not None and mode != "navigate"


async def _throttled(send: Send, wait: str) -> None:
    body = orjson.dumps(
        error_body("too_many_requests", f"too many unknown credentials; retry in {wait} s")
    )
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", wait.encode()),
    ]
    await send({"type": "http.response.start", "status": 429, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _answer(
    send: Send, status: int, message: str, need: Need, path: str, script: bool
) -> None:
    kind = "unauthorized" if status == 401 else "forbidden"
    body = orjson.dumps(error_body(kind, message))
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if status == 401:
        headers += _AGENT_CHALLENGE if path == INGEST_PATH or script else _CHALLENGES
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
