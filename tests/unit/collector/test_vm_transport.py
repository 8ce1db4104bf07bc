"""The transport to VictoriaMetrics: no answer is BackendUnavailable, any status is an answer."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from hostvitals.collector.vm.errors import (
    BackendError,
    BackendRejected,
    BackendUnavailable,
    error_for_status,
    excerpt,
)
from hostvitals.collector.vm.transport import MockTransport, Request, RequestsTransport, Response
from tests.support.processes import free_port


class _Echo(BaseHTTPRequestHandler):
    """Answers 418 with what it saw: method, path with query, content type, accepted encoding
    and body."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._answer(b"")

    def do_POST(self) -> None:
        self._answer(self.rfile.read(int(self.headers.get("Content-Length", "0"))))

    def _answer(self, body: bytes) -> None:
        head = (
            self.command,
            self.path,
            self.headers["Content-Type"],
            self.headers["Accept-Encoding"],
        )
        seen = " ".join(map(str, head)).encode() + b" " + body
        self.send_response(418, "I'm a teapot")
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(seen)))
        self.end_headers()
        self.wfile.write(seen)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def echo() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_any_status_is_an_answer_with_its_body_and_type(echo: str) -> None:
    """Answers are asked for uncompressed (VictoriaMetrics is near; gzip costs both sides)."""
    transport = RequestsTransport()
    try:
        answer = transport.send(
            Request(
                "POST",
                echo,
                "/api/v1/import",
                5.0,
                params=[("a", "1"), ("a", "2")],
                data=b"line\n",
                headers={"Content-Type": "application/stream+json"},
            )
        )
        form = transport.send(Request("POST", echo, "/x", 5.0, data={"match[]": "up"}))
    finally:
        transport.close()
    assert (answer.status, answer.reason, answer.content_type) == (
        418,
        "I'm a teapot",
        "text/plain",
    )
    assert answer.text == "POST /api/v1/import?a=1&a=2 application/stream+json identity line\n"
    assert form.text == "POST /x application/x-www-form-urlencoded identity match%5B%5D=up"


def test_no_answer_is_unavailable_naming_the_victoriametrics_and_why() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(BackendUnavailable) as refused:
        RequestsTransport().send(Request("GET", url, "/health", 2.0))
    assert refused.value.message == f"VictoriaMetrics at {url} is unreachable: connection refused"
    assert (refused.value.url, refused.value.status) == (url, None)


def test_a_slow_answer_is_unavailable_after_the_timeout() -> None:
    with socket.socket() as listener:  # accepts connections, never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        with pytest.raises(BackendUnavailable, match=r"is unreachable: no answer within 0\.2s$"):
            RequestsTransport().send(Request("GET", url, "/health", 0.2))


def test_sessions_are_shared_between_threads_without_mixing_answers(echo: str) -> None:
    transport = RequestsTransport(pool_size=2)

    def ask(n: int) -> str:
        return transport.send(Request("GET", echo, f"/n{n}", 5.0)).text

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(ask, range(40)))
    transport.close()
    assert answers == [f"GET /n{n} None identity " for n in range(40)]
    assert ask(40) == "GET /n40 None identity "  # still usable after close


def test_pool_size_is_checked() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        RequestsTransport(pool_size=0)


def test_mock_transport_answers_from_its_handler_and_keeps_the_requests() -> None:
    def handler(request: Request) -> Response:
        if request.path == "/down":
            raise BackendUnavailable.no_answer(request.base_url, "connection refused")
        return Response(200, request.url.encode(), "text/plain")

    transport = MockTransport(handler)
    assert transport.send(Request("GET", "http://vm", "/up", 1.0)).text == "http://vm/up"
    with pytest.raises(BackendUnavailable, match="http://vm is unreachable"):
        transport.send(Request("GET", "http://vm", "/down", 1.0))
    assert [r.path for r in transport.requests] == ["/up", "/down"]


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (500, BackendUnavailable),
        (503, BackendUnavailable),
        (429, BackendUnavailable),
        (400, BackendRejected),
        (422, BackendRejected),
        (404, BackendRejected),
    ],
)
def test_the_status_policy(status: int, kind: type[BackendError]) -> None:
    error = error_for_status(status, "text", url="http://vm")
    assert type(error) is kind
    assert (error.status, error.message, error.url) == (status, "text", "http://vm")


def test_excerpt_is_one_short_line() -> None:
    assert excerpt("cannot\n  parse\tline") == "cannot parse line"
    assert excerpt("x" * 400) == "x" * 300 + "..."
