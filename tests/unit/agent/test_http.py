"""The agent's blocking HTTP client against a real keep-alive server on loopback."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from hostvitals.agent.http import IDLE_CLOSE_S, Poster
from tests.support.clock import ManualClock


@dataclass
class Seen:
    connections: set[tuple[str, int]] = field(default_factory=set)
    requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def handler_for(seen: Seen) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keeps connections alive

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with seen.lock:
                seen.connections.add(self.client_address)
                seen.requests += 1
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def server() -> Iterator[tuple[str, Seen]]:
    seen = Seen()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler_for(seen))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/api/v1/ingest", seen
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_connection_in_use_is_kept(server: tuple[str, Seen]) -> None:
    url, seen = server
    clock = ManualClock()
    poster = Poster((url,), 5.0, clock=clock)
    try:
        for _ in range(3):
            assert poster.post(0, b"frame", {}).status == 204
            clock.now += IDLE_CLOSE_S - 0.5
    finally:
        poster.close()
    assert seen.requests == 3
    assert len(seen.connections) == 1


def test_a_connection_idle_too_long_is_replaced_before_the_request(
    server: tuple[str, Seen],
) -> None:
    """A server may have closed it meanwhile: the request goes on a fresh connection at
    once instead of failing on the old one first."""
    url, seen = server
    clock = ManualClock()
    poster = Poster((url,), 5.0, clock=clock)
    try:
        assert poster.post(0, b"frame", {}).status == 204
        clock.now += IDLE_CLOSE_S
        assert poster.post(0, b"frame", {}).status == 204
    finally:
        poster.close()
    assert seen.requests == 2
    assert len(seen.connections) == 2
