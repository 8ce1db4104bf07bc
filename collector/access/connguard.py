"""Slow and greedy clients at the connection level: a request head must arrive within
``server.header_timeout_s``, a body must keep moving (``server.body_timeout_s``), and there
are at most ``server.max_connections`` connections, ``server.max_connections_per_address``
of them from one address.

uvicorn has a keep-alive timeout but no header or body timeout, so :func:`guarded_protocol`
makes a subclass of its httptools protocol with timers on the connection: armed when the
connection opens and when a new request begins, cancelled when the head is complete; a body
timer is reset by each piece of body and cancelled when the request is complete. A timer
that fires answers 408 (unless a response has started) and closes the connection. A
connection over a limit is answered at once, 503 (every connection taken) or 429 (its
address has its share), with ``Retry-After``, and closed, so a flood of idle connections
can neither use up the process's open files nor lock other clients out. Each closed or
refused connection is counted by reason.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from collections import Counter as Tally
from typing import Any, Final

import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from hostvitals.collector.config.settings import ServerSettings
from hostvitals.collector.errors import error_body

log = logging.getLogger(__name__)

CLOSE_REASONS: Final = ("header_timeout", "body_timeout")
REFUSE_REASONS: Final = ("total", "per_address")
RETRY_AFTER_S: Final = 1
FILES_RESERVED_SHARE: Final = 0.25  # of the open-files limit, kept for the collector itself


def connection_limit(configured: int, open_files: int | None = None) -> int:
    """``configured``, but at most three quarters of the open-files limit."""
    if open_files is None:
        soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        open_files = soft if soft != resource.RLIM_INFINITY else configured * 2
    return max(1, min(configured, int(open_files * (1 - FILES_RESERVED_SHARE))))


class ConnectionGuard:
    """The connection counts and limits, shared by every connection of one server."""

    def __init__(
        self,
        settings: ServerSettings,
        registry: CollectorRegistry | None = None,
        *,
        open_files: int | None = None,
    ) -> None:
        self.header_timeout_s = settings.header_timeout_s
        self.body_timeout_s = settings.body_timeout_s
        self.max_total = connection_limit(settings.max_connections, open_files)
        self.max_per_address = settings.max_connections_per_address
        self.total = 0
        self.by_address: Tally[str] = Tally()
        self.closed = Counter(
            "hostvitals_collector_connections_closed",
            "Connections closed by the collector because a client was too slow, by reason "
            "(header_timeout, body_timeout).",
            ("reason",),
            registry=registry,
        )
        self.refused = Counter(
            "hostvitals_collector_connections_refused",
            "Connections answered at once and closed because of a limit, by reason (total: "
            "server.max_connections; per_address: server.max_connections_per_address).",
            ("reason",),
            registry=registry,
        )
        for reason in CLOSE_REASONS:
            self.closed.labels(reason)
        for reason in REFUSE_REASONS:
            self.refused.labels(reason)
        self.open = Gauge(
            "hostvitals_collector_connections_open",
            "HTTP connections open now.",
            registry=registry,
        )
        self.open.set_function(lambda: self.total)

    def admit(self, address: str) -> tuple[int, str, str] | None:
        """None when a new connection from ``address`` may stay (it is then counted), else
        (status, reason, message)."""
        if self.total >= self.max_total:
            self.refused.labels("total").inc()
            return 503, "total", f"the collector has {self.max_total} connections open; retry"
        if self.by_address[address] >= self.max_per_address:
            self.refused.labels("per_address").inc()
            return (
                429,
                "per_address",
                f"this address has {self.max_per_address} connections open; close some",
            )
        self.total += 1
        self.by_address[address] += 1
        return None

    def release(self, address: str) -> None:
        self.total -= 1
        self.by_address[address] -= 1
        if self.by_address[address] <= 0:
            del self.by_address[address]


_REASONS: Final = {408: b"Request Timeout", 429: b"Too Many Requests", 503: b"Service Unavailable"}


def raw_answer(status: int, kind: str, message: str, retry_after: bool) -> bytes:
    """A whole HTTP/1.1 error answer that closes the connection, in the API's error format."""
    body = orjson.dumps(error_body(kind, message))
    head = [
        b"HTTP/1.1 %d %s" % (status, _REASONS[status]),
        b"content-type: application/json",
        b"content-length: %d" % len(body),
        b"connection: close",
    ]
    if retry_after:
        head.append(b"retry-after: %d" % RETRY_AFTER_S)
    return b"\r\n".join(head) + b"\r\n\r\n" + body


def guarded_protocol(
    guard: ConnectionGuard, base: type[asyncio.Protocol]
) -> type[asyncio.Protocol]:
    """``base``, a subclass of uvicorn's httptools protocol, with ``guard``'s timeouts and
    limits (``http=`` of ``uvicorn.run``). Any other protocol (h11's, when httptools is not
    installed) is given back unchanged, with a warning."""
    if not issubclass(base, HttpToolsProtocol):
        log.warning(
            "httptools is not installed: no header or body timeouts and no connection limits "
            "(install uvicorn[standard])"
        )
        return base

    class GuardedProtocol(base):  # type: ignore[valid-type,misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._address: str | None = None
            self._timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:
            super().connection_made(transport)
            address = self.client[0] if self.client else "unknown"
            refusal = guard.admit(address)
            if refusal is not None:
                status, _reason, message = refusal
                transport.write(raw_answer(status, "unavailable", message, retry_after=True))
                transport.close()
                return
            self._address = address
            self._arm(guard.header_timeout_s, self._head_too_slow)

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            if self._address is not None:
                guard.release(self._address)
                self._address = None
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if self._address is None:
                return  # refused: the answer is on its way out
            super().data_received(data)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            if self._timer is None:
                self._arm(guard.header_timeout_s, self._head_too_slow)

        def on_headers_complete(self) -> None:
            self._arm(guard.body_timeout_s, self._body_too_slow)
            super().on_headers_complete()

        def on_body(self, body: bytes) -> None:
            self._arm(guard.body_timeout_s, self._body_too_slow)
            super().on_body(body)

        def on_message_complete(self) -> None:
            self._disarm()
            super().on_message_complete()

        def _arm(self, delay_s: float, then: Any) -> None:
            self._disarm()
            self._timer = self.loop.call_later(delay_s, then)

        def _disarm(self) -> None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

        def _head_too_slow(self) -> None:
            self._timer = None
            guard.closed.labels("header_timeout").inc()
            message = f"the request head did not arrive within {guard.header_timeout_s:g} s"
            self._give_up(message)

        def _body_too_slow(self) -> None:
            self._timer = None
            guard.closed.labels("body_timeout").inc()
            message = f"the request body stalled for {guard.body_timeout_s:g} s"
            self._give_up(message)

        def _give_up(self, message: str) -> None:
            if self.transport.is_closing():
                return
            cycle = self.cycle
            if cycle is None or not cycle.response_started or cycle.response_complete:
                self.transport.write(raw_answer(408, "timeout", message, retry_after=False))
            if cycle is not None:
                cycle.keep_alive = False
            self.transport.close()

    return GuardedProtocol
