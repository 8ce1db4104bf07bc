"""History API against a real VictoriaMetrics holding samples with known rates and values.

Samples go straight into VictoriaMetrics through its JSON-lines import, one sample a second,
for hosts named for this run; every expected number below follows from those samples.
"""

from __future__ import annotations

import http.server
import itertools
import json
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import requests
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from hostvitals.collector.api import query as query_api
from hostvitals.collector.query.cache import QueryCache
from hostvitals.collector.vm.errors import BackendRejected
from hostvitals.collector.vm.reader import VictoriaMetricsReader
from tests.support.collector_app import asgi_client, router_app
from tests.support.processes import VictoriaMetrics, free_port

pytestmark = pytest.mark.integration

SAMPLES = 300
RUN = uuid.uuid4().hex[:8]
GIB = 1 << 30

# Per-second increments of node_cpu_seconds_total, per CPU and mode (each CPU sums to 1).
CPU_RATES = {
    "0": {"idle": 0.6, "user": 0.3, "system": 0.1},
    "1": {"idle": 0.2, "user": 0.5, "system": 0.2, "iowait": 0.1},
}
DISK_RATES = {
    "node_disk_read_bytes_total": 4096.0,
    "node_disk_written_bytes_total": 8192.0,
    "node_disk_reads_completed_total": 10.0,
    "node_disk_writes_completed_total": 20.0,
    "node_disk_io_time_seconds_total": 0.25,
}
NET_RATES = {
    "node_network_receive_bytes_total": 125_000.0,
    "node_network_transmit_bytes_total": 50_000.0,
    "node_network_receive_packets_total": 100.0,
    "node_network_transmit_packets_total": 50.0,
    "node_network_receive_errs_total": 1.0,
    "node_network_transmit_errs_total": 2.0,
    "node_network_receive_drop_total": 3.0,
    "node_network_transmit_drop_total": 4.0,
}


@dataclass(frozen=True)
class Window:
    """Where the samples are: one a second from ``first`` for ``SAMPLES`` seconds."""

    first: int

    @property
    def start(self) -> int:
        return self.first + 60

    @property
    def end(self) -> int:
        return self.first + 240


@dataclass(frozen=True)
class Hosts:
    main: str
    other: str
    weird: str
    jitter: str


def series_line(
    name: str, labels: dict[str, str], timestamps_ms: list[int], values: list[float]
) -> str:
    return json.dumps(
        {"metric": {"__name__": name, **labels}, "values": values, "timestamps": timestamps_ms}
    )


def counter(rate: float, timestamps_ms: list[int], base: float = 1000.0) -> list[float]:
    """Counter values that grow by exactly ``rate`` per second of sample time."""
    origin = timestamps_ms[0]
    return [base + rate * (t - origin) / 1000 for t in timestamps_ms]


def host_lines(host: str, timestamps_ms: list[int], scale: float, swap: bool) -> list[str]:
    """Every family's series for one host; rates and sizes multiplied by ``scale``."""
    n = len(timestamps_ms)
    lines = []
    for cpu, modes in CPU_RATES.items():
        for mode, rate in modes.items():
            lines.append(
                series_line(
                    "node_cpu_seconds_total",
                    {"host": host, "cpu": cpu, "mode": mode},
                    timestamps_ms,
                    counter(rate, timestamps_ms),
                )
            )
    gauges = {
        "node_load1": 1.5 * scale,
        "node_load5": 1.25 * scale,
        "node_load15": 0.75 * scale,
        "node_memory_MemTotal_bytes": 8 * GIB * scale,
        "node_memory_MemAvailable_bytes": 6 * GIB * scale,
        "node_memory_Cached_bytes": 3 * GIB * scale,
        "node_memory_Buffers_bytes": 0.5 * GIB * scale,
        "node_memory_SwapTotal_bytes": 2 * GIB * scale if swap else 0.0,
        "node_memory_SwapFree_bytes": 1.5 * GIB * scale if swap else 0.0,
    }
    for name, value in gauges.items():
        lines.append(series_line(name, {"host": host}, timestamps_ms, [value] * n))
    for name, rate in (
        ("hostvitals_swap_in_bytes_total", 4096.0 * scale),
        ("hostvitals_swap_out_bytes_total", 8192.0 * scale),
    ):
        lines.append(series_line(name, {"host": host}, timestamps_ms, counter(rate, timestamps_ms)))
    for name, rate in DISK_RATES.items():
        lines.append(
            series_line(
                name,
                {"host": host, "device": "sda"},
                timestamps_ms,
                counter(rate if "io_time" in name else rate * scale, timestamps_ms),
            )
        )
    for name, rate in NET_RATES.items():
        lines.append(
            series_line(
                name,
                {"host": host, "device": "eth0"},
                timestamps_ms,
                counter(rate * scale, timestamps_ms),
            )
        )
    filesystems = {
        ("/dev/sda1", "/", "ext4"): (100e9 * scale, 40e9 * scale),
        ("proc", "/proc", "proc"): (0.0, 0.0),
    }
    for (device, mountpoint, fstype), (size, avail) in filesystems.items():
        labels = {"host": host, "device": device, "mountpoint": mountpoint, "fstype": fstype}
        lines.append(series_line("node_filesystem_size_bytes", labels, timestamps_ms, [size] * n))
        lines.append(series_line("node_filesystem_avail_bytes", labels, timestamps_ms, [avail] * n))
    return lines


@pytest.fixture(scope="module")
def window() -> Window:
    return Window(first=int(time.time()) - 400)


@pytest.fixture(scope="module")
def hosts(victoria_metrics: VictoriaMetrics, window: Window) -> Hosts:
    chosen = Hosts(
        main=f"qa-{RUN}",
        other=f"qb-{RUN}",
        weird=f'q"w\\e\nird{{x}}-{RUN}',
        jitter=f"qj-{RUN}",
    )
    steady = [(window.first + i) * 1000 for i in range(SAMPLES)]
    # Samples up to 0.6 s late, as a busy agent sends them.
    jittered = [(window.first + i) * 1000 + (i * 7919 % 600) for i in range(SAMPLES)]
    lines = [
        *host_lines(chosen.main, steady, 1.0, swap=True),
        *host_lines(chosen.other, steady, 2.0, swap=False),
        *host_lines(chosen.weird, steady, 3.0, swap=True),
        *host_lines(chosen.jitter, jittered, 1.0, swap=True),
    ]
    response = requests.post(
        f"{victoria_metrics.url}/api/v1/import", data="\n".join(lines).encode(), timeout=30
    )
    assert response.status_code == 204, response.text
    victoria_metrics.flush()
    return chosen


@pytest.fixture(scope="module")
def app(victoria_metrics: VictoriaMetrics) -> Iterator[FastAPI]:
    reader = VictoriaMetricsReader(victoria_metrics.url, timeout_s=10)
    yield router_app(query_api.router, reader)
    reader.close()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(app) as test_client:
        yield test_client


async def history(client: httpx.AsyncClient, family: str, **params: Any) -> dict[str, Any]:
    response = await client.get(f"/api/v1/metrics/{family}", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "success"
    data: dict[str, Any] = body["data"]
    assert data["family"] == family
    return data


def lines_named(data: dict[str, Any], name: str, host: str) -> list[dict[str, Any]]:
    return [s for s in data["series"] if s["name"] == name and s["labels"]["host"] == host]


def only_value(data: dict[str, Any], name: str, host: str, **labels: str) -> float:
    """The one value every point of the one matching line has."""
    matching = [
        s
        for s in lines_named(data, name, host)
        if all(s["labels"].get(k) == v for k, v in labels.items())
    ]
    assert len(matching) == 1, (name, labels, matching)
    values = [v for _, v in matching[0]["points"]]
    assert values, (name, labels)
    assert max(values) == pytest.approx(min(values), rel=1e-9, abs=1e-9), (name, values)
    return float(values[0])


def span(window: Window, step: float) -> dict[str, Any]:
    return {"start": window.start, "end": window.end, "step": step}


# -- every family, every step ---------------------------------------------------------------

STEPS = [1, 2, 5, 60]


@pytest.mark.parametrize("step", STEPS)
async def test_cpu(client: httpx.AsyncClient, hosts: Hosts, window: Window, step: float) -> None:
    data = await history(client, "cpu", host=hosts.main, **span(window, step))
    assert only_value(data, "cpu_usage_ratio", hosts.main) == pytest.approx(0.6)
    assert only_value(data, "cpu_core_usage_ratio", hosts.main, cpu="0") == pytest.approx(0.4)
    assert only_value(data, "cpu_core_usage_ratio", hosts.main, cpu="1") == pytest.approx(0.8)
    modes = {"idle": 0.4, "user": 0.4, "system": 0.15, "iowait": 0.05}
    for mode, ratio in modes.items():
        got = only_value(data, "cpu_mode_ratio", hosts.main, mode=mode)
        assert got == pytest.approx(ratio), mode
    assert {s["labels"]["mode"] for s in lines_named(data, "cpu_mode_ratio", hosts.main)} == set(
        modes
    )
    assert only_value(data, "load1", hosts.main) == 1.5
    assert only_value(data, "load5", hosts.main) == 1.25
    assert only_value(data, "load15", hosts.main) == 0.75
    usage = lines_named(data, "cpu_usage_ratio", hosts.main)[0]
    assert usage["labels"] == {"host": hosts.main}


@pytest.mark.parametrize("step", STEPS)
async def test_memory(client: httpx.AsyncClient, hosts: Hosts, window: Window, step: float) -> None:
    data = await history(client, "memory", host=hosts.main, **span(window, step))
    h = hosts.main
    assert only_value(data, "memory_total_bytes", h) == 8 * GIB
    assert only_value(data, "memory_available_bytes", h) == 6 * GIB
    assert only_value(data, "memory_used_ratio", h) == pytest.approx(0.25)
    assert only_value(data, "memory_cached_bytes", h) == 3 * GIB
    assert only_value(data, "memory_buffers_bytes", h) == 0.5 * GIB
    assert only_value(data, "swap_used_ratio", h) == pytest.approx(0.25)
    assert only_value(data, "swap_in_bytes_per_second", h) == pytest.approx(4096)
    assert only_value(data, "swap_out_bytes_per_second", h) == pytest.approx(8192)
    total = lines_named(data, "memory_total_bytes", h)[0]
    assert total["labels"] == {"host": h}  # no __name__


@pytest.mark.parametrize("step", STEPS)
async def test_disk(client: httpx.AsyncClient, hosts: Hosts, window: Window, step: float) -> None:
    data = await history(client, "disk", host=hosts.main, **span(window, step))
    h = hosts.main
    expected = {
        "read_bytes_per_second": 4096.0,
        "write_bytes_per_second": 8192.0,
        "reads_per_second": 10.0,
        "writes_per_second": 20.0,
        "io_utilisation_ratio": 0.25,
    }
    for name, value in expected.items():
        assert only_value(data, name, h, device="sda") == pytest.approx(value), name
    assert only_value(data, "filesystem_used_ratio", h, mountpoint="/") == pytest.approx(0.6)
    assert only_value(data, "filesystem_size_bytes", h, mountpoint="/") == 100e9
    assert only_value(data, "filesystem_avail_bytes", h, mountpoint="/") == 40e9
    root = lines_named(data, "filesystem_used_ratio", h)
    assert [s["labels"] for s in root] == [
        {"host": h, "device": "/dev/sda1", "mountpoint": "/", "fstype": "ext4"}
    ]  # a zero-size filesystem has no used ratio
    assert only_value(data, "filesystem_size_bytes", h, mountpoint="/proc") == 0.0


@pytest.mark.parametrize("step", STEPS)
async def test_network(
    client: httpx.AsyncClient, hosts: Hosts, window: Window, step: float
) -> None:
    data = await history(client, "network", host=hosts.main, **span(window, step))
    for metric, rate in NET_RATES.items():
        direction, what = metric.removeprefix("node_network_").removesuffix("_total").split("_")
        what = {"errs": "errors", "drop": "drops"}.get(what, what)
        name = f"{direction}_{what}_per_second"
        assert only_value(data, name, hosts.main, device="eth0") == pytest.approx(rate), name


@pytest.mark.parametrize("step", STEPS)
async def test_every_step_has_a_point(
    client: httpx.AsyncClient, hosts: Hosts, window: Window, step: float
) -> None:
    # The window is widened to whole steps, so every screen asking within a step shares it.
    for family in ("cpu", "memory", "disk", "network"):
        for host in (hosts.main, hosts.jitter):
            data = await history(client, family, host=host, **span(window, step))
            assert data["start"] % step == 0 and data["end"] % step == 0
            assert window.start - step < data["start"] <= window.start
            assert window.end <= data["end"] < window.end + step
            assert data["series"]
            for line in data["series"]:
                stamps = [t for t, _ in line["points"]]
                where = (host, line["name"], line["labels"])
                assert (stamps[0], stamps[-1]) == (data["start"], data["end"]), where
                gaps = {b - a for a, b in itertools.pairwise(stamps)}
                assert gaps == ({step} if len(stamps) > 1 else set()), where


@pytest.mark.parametrize("step", STEPS)
async def test_late_samples_give_the_same_rates(
    client: httpx.AsyncClient, hosts: Hosts, window: Window, step: float
) -> None:
    data = await history(client, "network", host=hosts.jitter, **span(window, step))
    got = only_value(data, "receive_bytes_per_second", hosts.jitter, device="eth0")
    assert got == pytest.approx(NET_RATES["node_network_receive_bytes_total"])
    cpu = await history(client, "cpu", host=hosts.jitter, **span(window, step))
    assert only_value(cpu, "cpu_usage_ratio", hosts.jitter) == pytest.approx(0.6)


# -- hosts ----------------------------------------------------------------------------------


async def test_host_filter_returns_only_that_host(
    client: httpx.AsyncClient, hosts: Hosts, window: Window
) -> None:
    for family in ("cpu", "memory", "disk", "network"):
        data = await history(client, family, host=hosts.other, **span(window, 15))
        assert data["series"]
        assert {s["labels"]["host"] for s in data["series"]} == {hosts.other}
    data = await history(client, "network", host=hosts.other, **span(window, 15))
    got = only_value(data, "receive_bytes_per_second", hosts.other, device="eth0")
    assert got == pytest.approx(2 * NET_RATES["node_network_receive_bytes_total"])


async def test_without_host_every_host_is_there(
    client: httpx.AsyncClient, hosts: Hosts, window: Window
) -> None:
    data = await history(client, "memory", **span(window, 30))
    ours = {hosts.main, hosts.other, hosts.weird, hosts.jitter}
    assert ours <= {s["labels"]["host"] for s in data["series"]}
    assert only_value(data, "memory_total_bytes", hosts.other) == 16 * GIB
    assert only_value(data, "memory_total_bytes", hosts.main) == 8 * GIB


async def test_host_without_swap_has_no_swap_ratio(
    client: httpx.AsyncClient, hosts: Hosts, window: Window
) -> None:
    data = await history(client, "memory", host=hosts.other, **span(window, 30))
    assert lines_named(data, "swap_used_ratio", hosts.other) == []
    assert only_value(data, "memory_used_ratio", hosts.other) == pytest.approx(0.25)


async def test_host_names_are_escaped(
    client: httpx.AsyncClient, hosts: Hosts, window: Window
) -> None:
    data = await history(client, "disk", host=hosts.weird, **span(window, 30))
    assert {s["labels"]["host"] for s in data["series"]} == {hosts.weird}
    got = only_value(data, "read_bytes_per_second", hosts.weird, device="sda")
    assert got == pytest.approx(3 * 4096)


async def test_unknown_host_has_no_series(client: httpx.AsyncClient, window: Window) -> None:
    data = await history(client, "cpu", host=f"nobody-{RUN}", **span(window, 30))
    assert data["series"] == []


# -- time parameters ------------------------------------------------------------------------


async def test_defaults_are_the_last_hour(client: httpx.AsyncClient, hosts: Hosts) -> None:
    before = time.time()
    data = await history(client, "memory", host=hosts.main)
    assert data["step"] == 12
    assert before <= data["end"] < time.time() + 12
    assert data["end"] - data["start"] in (3600, 3612)
    assert only_value(data, "memory_total_bytes", hosts.main) == 8 * GIB


async def test_rfc3339_and_durations(
    client: httpx.AsyncClient, hosts: Hosts, window: Window
) -> None:
    def rfc3339(seconds: int) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))

    by_text = await history(
        client,
        "network",
        host=hosts.main,
        start=rfc3339(window.start),
        end=rfc3339(window.end),
        step="1m",
    )
    by_number = await history(client, "network", host=hosts.main, **span(window, 60))
    aligned = (window.start // 60 * 60, -(-window.end // 60) * 60, 60)
    assert (by_text["start"], by_text["end"], by_text["step"]) == aligned
    assert by_text["series"] == by_number["series"]


# -- errors ---------------------------------------------------------------------------------


def error(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == "error"
    assert isinstance(body["errorType"], str) and body["errorType"]
    return str(body["error"])


async def test_unknown_family_lists_the_valid_ones(client: httpx.AsyncClient) -> None:
    message = error(await client.get("/api/v1/metrics/gpu"), 400)
    assert message == "unknown metric family 'gpu'; valid families: cpu, memory, disk, network"


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"start": "yesterday"}, "invalid start 'yesterday'"),
        ({"end": "2026-11-24"}, "invalid end '2026-11-24'"),
        ({"step": "fast"}, "invalid step 'fast'"),
        ({"step": "0"}, "step must be positive"),
        ({"step": "-5s"}, "invalid step '-5s'"),
        ({"start": "2000", "end": "1000"}, "start (2000) must be before end (1000)"),
        ({"start": "1000", "end": "1000"}, "must be before end"),
        ({"start": "0", "end": "1000000", "step": "1"}, "the limit is 11000; raise step"),
        ({"end": str(int(time.time()) + 10 * 86_400)}, "past the current time"),
        ({"host": ""}, "invalid host: a host name has 1-253 characters"),
        ({"host": "h" * 254}, "invalid host: a host name has 1-253 characters"),
    ],
)
async def test_bad_parameters_are_400(
    client: httpx.AsyncClient, params: dict[str, str], fragment: str
) -> None:
    message = error(await client.get("/api/v1/metrics/cpu", params=params), 400)
    assert fragment in message


async def test_unreachable_victoria_metrics_is_503() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    reader = VictoriaMetricsReader(url, timeout_s=2)
    async with asgi_client(router_app(query_api.router, reader)) as dead:
        response = await dead.get("/api/v1/metrics/memory", params={"host": "any"})
    body = response.json()
    assert response.status_code == 503, body
    assert body["status"] == "error"
    assert body["errorType"] == "unavailable"
    assert body["error"].startswith(f"VictoriaMetrics at {url} is unreachable: ")
    assert "connection refused" in body["error"]


async def test_victoria_metrics_that_does_not_answer_in_time_is_503() -> None:
    with socket.socket() as listener:  # accepts connections, never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        reader = VictoriaMetricsReader(url, timeout_s=0.2)
        async with asgi_client(router_app(query_api.router, reader)) as slow:
            response = await slow.get("/api/v1/metrics/cpu")
    assert response.status_code == 503, response.text
    assert (
        response.json()["error"]
        == f"VictoriaMetrics at {url} is unreachable: no answer within 0.2s"
    )


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


# -- the query cache ------------------------------------------------------------------------


async def test_screens_asking_within_one_step_share_one_answer(
    app: FastAPI, client: httpx.AsyncClient, hosts: Hosts, window: Window
) -> None:
    cache = app.state.query_cache
    params = {"host": hosts.main, "end": window.end, "step": 60}
    first = await client.get("/api/v1/metrics/memory", params={**params, "start": window.start})
    hits = len(cache), cache.hits.collect()[0].samples[0].value
    # Another screen, a moment later: other seconds within the same whole steps, same bytes.
    start, end = window.start // 60 * 60 + 1, -(-window.end // 60) * 60 - 1
    later = await client.get(
        "/api/v1/metrics/memory", params={**params, "start": start, "end": end}
    )
    assert later.content == first.content
    assert (len(cache), cache.hits.collect()[0].samples[0].value) == (hits[0], hits[1] + 1)


async def test_a_cached_answer_lags_new_samples_until_nocache_or_expiry(
    app: FastAPI,
    client: httpx.AsyncClient,
    victoria_metrics: VictoriaMetrics,
    window: Window,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A time to live no slow machine outlasts, so "still cached" cannot be luck.
    monkeypatch.setattr(app.state, "query_cache", QueryCache(3600, 1 << 20, CollectorRegistry()))
    late = f"ql-{RUN}"
    params = {"host": late, "start": window.start, "end": window.end, "step": 60}
    assert (await history(client, "memory", **params))["series"] == []
    stamps = [(window.first + i) * 1000 for i in range(SAMPLES)]
    lines = host_lines(late, stamps, 1.0, swap=False)
    response = requests.post(
        f"{victoria_metrics.url}/api/v1/import", data="\n".join(lines).encode(), timeout=30
    )
    assert response.status_code == 204, response.text
    victoria_metrics.flush()
    # Within the cache's time to live the empty answer is still the answer...
    assert (await history(client, "memory", **params))["series"] == []
    # ...nocache=1 asks VictoriaMetrics afresh, and so does everyone once the answer expires.
    fresh = await history(client, "memory", **params, nocache=1)
    assert only_value(fresh, "memory_total_bytes", late) == 8 * GIB
    app.state.query_cache.clear()
    assert (await history(client, "memory", **params))["series"] == fresh["series"]
