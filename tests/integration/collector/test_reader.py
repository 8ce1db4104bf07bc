"""The VictoriaMetrics reader against a real VictoriaMetrics holding the history tests' samples
(history_data.py), its settings checks, and how the history API reports a VictoriaMetrics
that answers with errors or nonsense (a canned HTTP server).
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from hostvitals.collector.api import query as query_api
from hostvitals.collector.vm.errors import BackendRejected
from hostvitals.collector.vm.reader import VictoriaMetricsReader
from tests.integration.collector.history_data import Hosts, Window
from tests.support.collector_app import asgi_client, router_app
from tests.support.processes import VictoriaMetrics

pytestmark = pytest.mark.integration


# -- the reader itself ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def reader(victoria_metrics: VictoriaMetrics) -> Iterator[VictoriaMetricsReader]:
    vm_reader = VictoriaMetricsReader(victoria_metrics.url + "/", timeout_s=10)
    yield vm_reader
    vm_reader.close()


def test_reader_instant_query(reader: VictoriaMetricsReader, hosts: Hosts, window: Window) -> None:
    samples = reader.query(f'node_load5{{host="{hosts.main}"}}', float(window.start))
    assert [(s.labels, s.timestamp, s.value) for s in samples] == [
        ({"__name__": "node_load5", "host": hosts.main}, window.start, 1.25)
    ]
    (scalar,) = reader.query("scalar(vector(2.5))", 1_700_000_000.0)
    assert (scalar.labels, scalar.timestamp, scalar.value) == ({}, 1_700_000_000.0, 2.5)
    assert reader.query("vector(0) / 0", None) == []  # NaN is left out


def test_reader_range_query(reader: VictoriaMetricsReader, hosts: Hosts, window: Window) -> None:
    selected = f'node_load1{{host="{hosts.main}"}}'
    (load,) = reader.query_range(selected, window.start, window.start + 10, 5)
    assert load.labels == {"__name__": "node_load1", "host": hosts.main}
    assert load.points == [(window.start + 5.0 * i, 1.5) for i in range(3)]
    # Division by zero gives +Inf at every step: the series stays, without points.
    (infinite,) = reader.query_range(f"{selected} / 0", window.start, window.start + 10, 5)
    assert infinite.points == []


def test_reader_rejected_query_carries_victoria_metrics_text(
    reader: VictoriaMetricsReader,
) -> None:
    with pytest.raises(BackendRejected) as caught:
        reader.query_range("rate(node_load1", 0, 60, 15)
    assert 400 <= caught.value.status < 500
    assert "rate(node_load1" in caught.value.message


def test_reader_forward_keeps_repeated_keys(reader: VictoriaMetricsReader, hosts: Hosts) -> None:
    params = [("match[]", f'node_load1{{host="{hosts.main}"}}')]
    params.append(("match[]", f'node_load5{{host="{hosts.main}"}}'))
    status, body, content_type = reader.forward("/api/v1/series", params)
    assert (status, content_type) == (200, "application/json")
    names = sorted(s["__name__"] for s in json.loads(body)["data"])
    assert names == ["node_load1", "node_load5"]
    form = "&".join(f"match[]={p}" for _, p in params).replace("{", "%7B").replace("}", "%7D")
    status, body, _ = reader.forward("/api/v1/series", [], "POST", form.encode())
    assert status == 200
    assert sorted(s["__name__"] for s in json.loads(body)["data"]) == names


@pytest.mark.parametrize(
    ("url", "timeout", "fragment"),
    [
        ("localhost:8428", 1.0, r"must be http\(s\)://host"),
        ("ftp://vm:8428", 1.0, r"must be http\(s\)://host"),
        ("http://", 1.0, r"must be http\(s\)://host"),
        ("http://vm:8428", 0.0, "timeout must be a positive"),
        ("http://vm:8428", float("nan"), "timeout must be a positive"),
    ],
)
def test_reader_refuses_bad_settings(url: str, timeout: float, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        VictoriaMetricsReader(url, timeout)


class CannedAnswer(http.server.BaseHTTPRequestHandler):
    """Answers every request with the status and body the server was given."""

    server: CannedServer

    def do_GET(self) -> None:
        self.answer()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.answer()

    def answer(self) -> None:
        status, body = self.server.canned
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class CannedServer(http.server.ThreadingHTTPServer):
    canned: tuple[int, bytes]


@pytest.fixture
def canned() -> Iterator[CannedServer]:
    server = CannedServer(("127.0.0.1", 0), CannedAnswer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        thread.join(10)
        server.server_close()


@pytest.mark.parametrize(
    ("status", "body", "expected_status", "expected_type", "fragment"),
    [
        (
            422,
            b'{"status":"error","errorType":"422","error":"too many series"}',
            400,
            "bad_data",
            "too many series",
        ),
        (503, b'{"status":"error","errorType":"503","error":"busy"}', 503, "unavailable", "busy"),
        (500, b"oops", 502, "bad_gateway", "oops"),
        (200, b"not json", 502, "bad_gateway", "unexpected answer"),
        (
            200,
            b'{"status":"success","data":{"resultType":"vector","result":[]}}',
            502,
            "bad_gateway",
            "malformed range result",
        ),
        (
            200,
            b'{"status":"success","data":{"resultType":"matrix","result":[{"x":1}]}}',
            502,
            "bad_gateway",
            "malformed range result",
        ),
    ],
)
async def test_victoria_metrics_failures_map_to_clear_errors(
    canned: CannedServer,
    status: int,
    body: bytes,
    expected_status: int,
    expected_type: str,
    fragment: str,
) -> None:
    canned.canned = (status, body)
    host, port = canned.server_address[:2]
    reader = VictoriaMetricsReader(f"http://{host!s}:{port}", timeout_s=5)
    async with asgi_client(router_app(query_api.router, reader)) as odd:
        response = await odd.get("/api/v1/metrics/memory", params={"host": "any"})
    reader.close()
    assert response.status_code == expected_status, response.text
    answer = response.json()
    assert answer["errorType"] == expected_type
    assert fragment in answer["error"]
