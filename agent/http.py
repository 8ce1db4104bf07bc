"""A small blocking HTTP/1.1 client for posting frames, run in a worker thread.

The standard library's ``http.client`` keeps one persistent connection per collector, which is
all the agent needs and costs a fraction of the memory of an asyncio HTTP stack. Callers run
``post`` through ``asyncio.to_thread``; one ``Poster`` must not be used by two threads at once
(each delivery lane owns its own).
"""

from __future__ import annotations

import contextlib
import http.client
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from hostvitals.shared.protocol import FLUSH_INTERVAL_HEADER

MAX_BODY_READ = 512
"""Bytes of an answer body kept (for log messages); the rest is read and discarded."""

IDLE_CLOSE_S = 4.0
"""A connection idle this long is closed before the next request rather than reused: servers
close idle keep-alive connections (uvicorn after 5 s), and a request on one the server already
closed fails and is sent again. Frames every 10 s would pay that failed request each time."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: str
    retry_after: str | None
    flush_interval: str | None = None
    """``Hostvitals-Flush-Interval``: how often the collector asks for frames (see
    ``hostvitals.agent.flushhint``)."""


class Unreachable(Exception):
    """No HTTP answer: connection refused or reset, DNS failure, TLS failure or timeout."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


class Poster:
    """POSTs to a fixed set of URLs over persistent connections, one per URL."""

    def __init__(
        self,
        urls: tuple[str, ...],
        timeout_s: float,
        tls: Callable[[], ssl.SSLContext] = ssl.create_default_context,
        *,
        idle_close_s: float = IDLE_CLOSE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._targets = [urlsplit(url) for url in urls]
        self._paths = [target.path or "/" for target in self._targets]
        self._idle_close_s = idle_close_s
        self._clock = clock
        self._used: dict[int, float] = {}
        self._timeout = timeout_s
        self._connections: dict[int, http.client.HTTPConnection] = {}
        self._make_tls = tls
        self._tls: ssl.SSLContext | None = None

    def post(self, index: int, body: bytes, headers: dict[str, str]) -> Answer:
        """Send ``body`` to URL ``index``; an Answer for any HTTP status, else Unreachable.

        A request on a kept-alive connection that the server has since closed is retried once
        on a fresh connection; frames are idempotent (the collector deduplicates them).
        """
        last = self._used.get(index)
        if last is not None and self._clock() - last >= self._idle_close_s:
            self._drop(index)
        for attempt in (0, 1):
            reused = index in self._connections
            conn = self._connection(index)
            try:
                conn.request("POST", self._paths[index], body=body, headers=headers)
                response = conn.getresponse()
                raw = response.read()
            except TimeoutError as exc:
                self._drop(index)
                raise Unreachable("timeout", f"no answer within {self._timeout:g} s") from exc
            except (http.client.HTTPException, OSError) as exc:
                self._drop(index)
                if reused and attempt == 0:
                    continue
                raise Unreachable("connection", f"{type(exc).__name__}: {exc}") from exc
            if response.will_close:
                self._drop(index)
            else:
                self._used[index] = self._clock()
            return Answer(
                response.status,
                raw[:MAX_BODY_READ].decode("utf-8", "replace"),
                response.getheader("Retry-After"),
                response.getheader(FLUSH_INTERVAL_HEADER),
            )
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        for index in list(self._connections):
            self._drop(index)

    def _connection(self, index: int) -> http.client.HTTPConnection:
        conn = self._connections.get(index)
        if conn is None:
            target = self._targets[index]
            host = target.hostname or "localhost"
            if target.scheme == "https":
                if self._tls is None:
                    try:
                        self._tls = self._make_tls()
                    except Exception as exc:
                        raise Unreachable("connection", f"TLS settings: {exc}") from exc
                conn = http.client.HTTPSConnection(
                    host, target.port, timeout=self._timeout, context=self._tls
                )
            else:
                conn = http.client.HTTPConnection(host, target.port, timeout=self._timeout)
            self._connections[index] = conn
        return conn

    def _drop(self, index: int) -> None:
        self._used.pop(index, None)
        conn = self._connections.pop(index, None)
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.close()
