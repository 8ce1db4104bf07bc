"""The one way requests reach VictoriaMetrics: a :class:`Transport` with one ``send`` method.

:class:`RequestsTransport` sends over HTTP with ``requests``; :class:`MockTransport` answers
from a function instead, for tests. A transport answers with whatever status VictoriaMetrics
gave; it raises :class:`~hostvitals.collector.vm.errors.BackendUnavailable` only when there
is no answer (refused, reset, timed out). What a status means is up to the caller
(:func:`~hostvitals.collector.vm.errors.error_for_status`).

``requests.Session`` is not documented as thread-safe, so :class:`RequestsTransport` lends
each call a session of its own from a small pool and takes it back afterwards; sessions keep
their keep-alive connections between calls. The pool holds at most ``pool_size`` idle
sessions: a session given back to a full pool is closed, so the number of open connections
stays bounded however many threads call at once. The default is above the number of threads
that call one VictoriaMetrics (the server's thread pool of 40, the alert engine, the writer's
threads and the background jobs), so under load sessions are reused instead of a new TCP
connection being opened for most calls.

A request with a :class:`BodyLimit` (the answers to clients' queries) has its answer read in
chunks: past ``max_bytes`` (or a ``Content-Length`` above it) the reading stops and the
connection is dropped, so VictoriaMetrics stops sending, and a 200 answer's chunks are shown
to the limit's ``watch`` as they come, which may stop the reading too. The whole answer must
come within the request's timeout, and one that breaks off is a
:class:`~hostvitals.collector.vm.errors.BackendMalformed`.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol

import requests

from hostvitals.collector.vm.errors import AnswerRefused, BackendMalformed, BackendUnavailable

DEFAULT_POOL_SIZE = 64
CHUNK_BYTES = 64 * 1024
"""A bounded answer is read this many bytes at a time."""


@dataclass(frozen=True, slots=True)
class BodyLimit:
    """How a bounded answer is read: at most ``max_bytes``, each chunk of a 200 answer shown
    to ``watch`` (one per request: it may keep a count) which raises to stop the reading."""

    max_bytes: int
    watch: Callable[[bytes], None] | None = None


@dataclass(frozen=True, slots=True)
class Request:
    """One request to the VictoriaMetrics at ``base_url``: ``data`` is a body or a form."""

    method: str
    base_url: str
    path: str
    timeout_s: float
    params: Sequence[tuple[str, str]] = ()
    data: bytes | Mapping[str, str] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    body_limit: BodyLimit | None = None

    @property
    def url(self) -> str:
        return self.base_url + self.path


@dataclass(frozen=True, slots=True)
class Response:
    """VictoriaMetrics' answer, read in full."""

    status: int
    content: bytes = b""
    content_type: str | None = None
    reason: str = ""

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


class Transport(Protocol):
    def send(self, request: Request) -> Response:
        """The answer to ``request``; raises BackendUnavailable when there is none."""
        ...

    def close(self) -> None:
        """Let idle connections go; the transport stays usable."""
        ...


class RequestsTransport:
    """HTTP through ``requests``, safe to share between threads (see the module text)."""

    def __init__(self, pool_size: int = DEFAULT_POOL_SIZE) -> None:
        if pool_size < 1:
            raise ValueError(f"pool size must be at least 1, not {pool_size}")
        self._idle: queue.LifoQueue[requests.Session] = queue.LifoQueue(maxsize=pool_size)

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

    def send(self, request: Request) -> Response:
        started = time.monotonic()
        limit = request.body_limit
        try:
            with self._session() as session:
                answer = session.request(
                    request.method,
                    request.url,
                    params=list(request.params),
                    data=request.data,
                    headers=dict(request.headers),
                    timeout=request.timeout_s,
                    allow_redirects=False,
                    stream=limit is not None,
                )
                if limit is None:
                    content = answer.content
                else:
                    content = _read_streamed(answer, request, limit, started)
        except requests.Timeout:
            raise BackendUnavailable.no_answer(
                request.base_url, f"no answer within {request.timeout_s:g}s"
            ) from None
        except requests.RequestException as exc:
            raise BackendUnavailable.no_answer(request.base_url, _root_reason(exc)) from None
        content_type = answer.headers.get("Content-Type")
        return Response(answer.status_code, content, content_type, answer.reason or "")

    def close(self) -> None:
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return


class MockTransport:
    """Answers every request with ``handler(request)`` and sends nothing, for tests.

    The handler returns the :class:`Response`, or raises ``BackendUnavailable.no_answer(...)``
    to play a VictoriaMetrics that does not answer. The requests are kept in ``requests``. A
    request's :class:`BodyLimit` is applied to the handler's body, read in chunks as over
    HTTP.
    """

    def __init__(self, handler: Callable[[Request], Response]) -> None:
        self.handler = handler
        self.requests: list[Request] = []

    def send(self, request: Request) -> Response:
        self.requests.append(request)
        response = self.handler(request)
        limit = request.body_limit
        if limit is None:
            return response
        content = response.content
        chunks = (content[i : i + CHUNK_BYTES] for i in range(0, len(content), CHUNK_BYTES))
        deadline = time.monotonic() + request.timeout_s
        body = read_bounded(chunks, response.status, limit, deadline, request)
        return Response(response.status, body, response.content_type, response.reason)

    def close(self) -> None:
        pass


def read_bounded(
    chunks: Iterable[bytes], status: int, limit: BodyLimit, deadline: float, request: Request
) -> bytes:
    """The answer's body from its ``chunks``, read as ``limit`` says (see the module text).

    Raises AnswerRefused past ``limit.max_bytes`` (or what ``limit.watch`` raises), and
    BackendUnavailable when the body is not whole by ``deadline`` (``time.monotonic()``).
    """
    watch = limit.watch if status == 200 else None
    kept: list[bytes] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > limit.max_bytes:
            raise AnswerRefused("too_large", limit.max_bytes)
        if watch is not None:
            watch(chunk)
        kept.append(chunk)
        if time.monotonic() > deadline:
            raise BackendUnavailable(
                f"VictoriaMetrics at {request.base_url} did not finish its answer within "
                f"{request.timeout_s:g}s",
                url=request.base_url,
            )
    return b"".join(kept)


def _read_streamed(
    answer: requests.Response, request: Request, limit: BodyLimit, started: float
) -> bytes:
    """The body of a streamed answer, read by :func:`read_bounded`; the connection is
    dropped when the reading stops before the end."""
    declared = answer.headers.get("Content-Length", "")
    try:
        if declared.isdigit() and int(declared) > limit.max_bytes:
            raise AnswerRefused("too_large", limit.max_bytes)
        chunks = answer.iter_content(CHUNK_BYTES)
        deadline = started + request.timeout_s
        return read_bounded(chunks, answer.status_code, limit, deadline, request)
    except requests.RequestException as exc:
        answer.close()
        raise BackendMalformed(
            f"VictoriaMetrics at {request.base_url} broke off its answer: {_innermost(exc)}",
            url=request.base_url,
        ) from None
    except BaseException:
        answer.close()  # unread: the connection is dropped, and VictoriaMetrics stops sending
        raise


def _innermost(exc: BaseException) -> str:
    """The text of the innermost exception ``exc`` carries in its arguments, e.g.
    "IncompleteRead(80 bytes read, 1000 more expected)" from requests' wrappings."""
    current = exc
    while (
        inner := next((a for a in current.args if isinstance(a, BaseException)), None)
    ) is not None:
        current = inner
    return str(current) or type(current).__name__


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
