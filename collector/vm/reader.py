"""Read from VictoriaMetrics over its Prometheus-compatible HTTP API.

The reader is called from FastAPI's worker threads. ``requests.Session`` is not documented
as thread-safe, so each call borrows a session from a small pool for its own use and gives it
back afterwards; sessions keep their keep-alive connections between calls. The pool holds at
most ``pool_size`` idle sessions: a session given back to a full pool is closed, so the number
of open connections stays bounded however many threads call at once. The default is above the
number of worker threads that call (the server's thread pool of 40, plus the alert engine), so
under load sessions are reused instead of a new TCP connection being opened for most calls.
"""

from __future__ import annotations

import math
import queue
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson
import requests

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
_MAX_ERROR_TEXT = 2000
DEFAULT_POOL_SIZE = 64


class BackendError(Exception):
    """VictoriaMetrics did not give a usable answer."""

    def __init__(self, url: str, message: str) -> None:
        self.url = url
        self.message = message
        super().__init__(message)


class BackendUnavailable(BackendError):
    """VictoriaMetrics cannot be reached, or did not answer in time."""

    def __init__(self, url: str, reason: str) -> None:
        self.reason = reason
        super().__init__(url, f"VictoriaMetrics at {url} is unreachable: {reason}")


class BackendRejected(BackendError):
    """VictoriaMetrics answered with an error status; ``message`` is its own error text."""

    def __init__(self, url: str, status: int, message: str) -> None:
        self.status = status
        super().__init__(url, message)


class BackendMalformed(BackendError):
    """VictoriaMetrics answered 200 with something that is not the expected JSON."""


@dataclass(frozen=True, slots=True)
class RangeSeries:
    """One series of a range query: its labels (``__name__`` included when VM keeps it)."""

    labels: dict[str, str]
    points: list[tuple[float, float]]


@dataclass(frozen=True, slots=True)
class InstantSample:
    """One series of an instant query, or the value of a scalar result (no labels)."""

    labels: dict[str, str]
    timestamp: float
    value: float


def _root_reason(exc: BaseException) -> str:
    """A short reason, e.g. "connection refused", from requests' nested exceptions."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, OSError) and current.strerror:
            return current.strerror.lower()
        todo.extend(c for c in (current.__cause__, current.__context__) if c is not None)
        todo.extend(a for a in current.args if isinstance(a, BaseException))
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            todo.append(reason)
    return str(exc) or type(exc).__name__


class VictoriaMetricsReader:
    """Range and instant queries, and a raw pass-through, against one VictoriaMetrics."""

    def __init__(self, base_url: str, timeout_s: float, pool_size: int = DEFAULT_POOL_SIZE) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"VictoriaMetrics URL must be http(s)://host[:port], not {base_url!r}")
        if not (math.isfinite(timeout_s) and timeout_s > 0):
            raise ValueError(f"timeout must be a positive number of seconds, not {timeout_s!r}")
        if pool_size < 1:
            raise ValueError(f"pool size must be at least 1, not {pool_size}")
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self._idle: queue.LifoQueue[requests.Session] = queue.LifoQueue(maxsize=pool_size)
        # Range queries being sent right now, by (query, start, end, step): an identical call
        # meanwhile waits for that answer instead of sending the query again.
        self._inflight: dict[tuple[str, float, float, float], Future[list[RangeSeries]]] = {}
        self._inflight_lock = threading.Lock()

    # -- sessions ----------------------------------------------------------------------------

    @contextmanager
    def _session(self) -> Iterator[requests.Session]:
        try:
            session = self._idle.get_nowait()
        except queue.Empty:
            session = requests.Session()
            # VictoriaMetrics gzips answers for clients that accept it; over loopback that
            # costs both sides CPU for nothing (answers are decoded before use anyway).
            session.headers["Accept-Encoding"] = "identity"
            # No proxy variables or ~/.netrc: requests would look them up again on every call
            # (a tenth of a pass-through's cost), and VictoriaMetrics is reached directly.
            session.trust_env = False
        try:
            yield session
        finally:
            try:
                self._idle.put_nowait(session)
            except queue.Full:
                session.close()

    def close(self) -> None:
        """Close the idle sessions and their connections."""
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return

    # -- HTTP ----------------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        params: list[tuple[str, str]] | None = None,
        data: bytes | dict[str, str] | None = None,
    ) -> requests.Response:
        if not path.startswith("/"):
            raise ValueError(f"path must start with '/', not {path!r}")
        headers = {"Content-Type": FORM_CONTENT_TYPE} if isinstance(data, bytes) else None
        try:
            with self._session() as session:
                return session.request(
                    method,
                    self.base_url + path,
                    params=params,
                    data=data,
                    headers=headers,
                    timeout=self.timeout_s,
                    allow_redirects=False,
                )
        except requests.Timeout:
            raise BackendUnavailable(
                self.base_url, f"no answer within {self.timeout_s:g}s"
            ) from None
        except requests.RequestException as exc:
            raise BackendUnavailable(self.base_url, _root_reason(exc)) from None

    def _data(self, path: str, form: dict[str, str]) -> Any:
        """POST a form to a JSON API path and return the ``data`` member of a success."""
        response = self._send("POST", path, data=form)
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            body = None
        if response.status_code != 200:
            if isinstance(body, dict) and isinstance(body.get("error"), str):
                message = body["error"]
            else:
                message = response.text[:_MAX_ERROR_TEXT] or response.reason or "no error text"
            raise BackendRejected(self.base_url, response.status_code, message)
        if not (isinstance(body, dict) and body.get("status") == "success" and "data" in body):
            raise BackendMalformed(
                self.base_url, f"VictoriaMetrics at {self.base_url} sent an unexpected answer"
            )
        return body["data"]

    def _malformed(self, what: str) -> BackendMalformed:
        return BackendMalformed(
            self.base_url, f"VictoriaMetrics at {self.base_url} sent a malformed {what}"
        )

    # -- queries -------------------------------------------------------------------------------

    def query_range(self, query: str, start: float, end: float, step: float) -> list[RangeSeries]:
        """Evaluate ``query`` over a range. Points that are NaN or infinite are left out.

        Identical calls (same query, start, end and step) made while one is being answered
        share that answer, or its error: a dashboard open on many screens costs one query.
        The result is shared, so callers must not modify it.
        """
        key = (query, start, end, step)
        with self._inflight_lock:
            pending = self._inflight.get(key)
            if pending is None:
                mine: Future[list[RangeSeries]] = Future()
                self._inflight[key] = mine
        if pending is not None:
            return pending.result()
        try:
            result = self._query_range(query, start, end, step)
        except BaseException as exc:
            mine.set_exception(exc)
            raise
        else:
            mine.set_result(result)
            return result
        finally:
            with self._inflight_lock:
                del self._inflight[key]

    def _query_range(self, query: str, start: float, end: float, step: float) -> list[RangeSeries]:
        data = self._data(
            "/api/v1/query_range",
            {"query": query, "start": repr(start), "end": repr(end), "step": repr(step)},
        )
        try:
            if data["resultType"] != "matrix":
                raise self._malformed(f"range result of type {data['resultType']!r}")
            out: list[RangeSeries] = []
            for item in data["result"]:
                points = [(float(t), float(v)) for t, v in item["values"]]
                out.append(
                    RangeSeries(
                        labels={str(k): str(v) for k, v in item["metric"].items()},
                        points=[p for p in points if math.isfinite(p[1])],
                    )
                )
        except (KeyError, TypeError, ValueError) as exc:
            raise self._malformed(f"range result ({exc!r})") from None
        return out

    def query(self, query: str, time: float | None = None) -> list[InstantSample]:
        """Evaluate ``query`` at ``time`` (now when None). NaN and infinite values are left out."""
        form = {"query": query}
        if time is not None:
            form["time"] = repr(time)
        data = self._data("/api/v1/query", form)
        try:
            kind = data["resultType"]
            if kind == "vector":
                items = [(item["metric"], item["value"]) for item in data["result"]]
            elif kind == "scalar":
                items = [({}, data["result"])]
            else:
                raise self._malformed(f"instant result of type {kind!r}")
            samples = [
                InstantSample(
                    labels={str(k): str(v) for k, v in labels.items()},
                    timestamp=float(pair[0]),
                    value=float(pair[1]),
                )
                for labels, pair in items
            ]
        except (KeyError, TypeError, ValueError) as exc:
            raise self._malformed(f"instant result ({exc!r})") from None
        return [s for s in samples if math.isfinite(s.value)]

    def forward(
        self,
        path: str,
        params: list[tuple[str, str]],
        method: str = "GET",
        form: bytes | None = None,
    ) -> tuple[int, bytes, str]:
        """Send a request through unchanged: (status, body, content type) of VM's answer.

        ``params`` keep their order and repeated keys (``match[]``); ``form`` is an
        ``application/x-www-form-urlencoded`` body, sent as is.
        """
        if method not in ("GET", "POST"):
            raise ValueError(f"method must be GET or POST, not {method!r}")
        response = self._send(method, path, params=params, data=form)
        content_type = response.headers.get("Content-Type", "application/json")
        return response.status_code, response.content, content_type
