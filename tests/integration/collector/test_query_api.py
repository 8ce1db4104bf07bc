"""History API against a real VictoriaMetrics holding samples with known rates and values.

Samples go straight into VictoriaMetrics through its JSON-lines import, one sample a second,
for hosts named for this run (history_data.py); every expected number below follows from
those samples. The reader's own tests are in test_reader.py, the query cache's in
test_query_cache.py.
"""

from __future__ import annotations

import itertools
import socket
import time
from typing import Any

import httpx
import pytest

from hostvitals.collector.api import query as query_api
from hostvitals.collector.vm.reader import VictoriaMetricsReader
from tests.integration.collector.history_data import (
    GIB,
    GPU,
    NET_RATES,
    RUN,
    WORKLOAD,
    Hosts,
    Window,
    history,
    lines_named,
    only_value,
    span,
)
from tests.support.collector_app import asgi_client, router_app
from tests.support.processes import free_port

pytestmark = pytest.mark.integration


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
async def test_cgroups(
    client: httpx.AsyncClient, hosts: Hosts, window: Window, step: float
) -> None:
    data = await history(client, "cgroups", host=hosts.main, **span(window, step))
    h = hosts.main
    expected = {
        "cpu_cores": 0.75,
        "read_bytes_per_second": 2048.0,
        "write_bytes_per_second": 1024.0,
        "cpu_waiting_ratio": 0.05,
        "memory_waiting_ratio": 0.02,
        "io_waiting_ratio": 0.1,
        "memory_bytes": GIB,
        "working_set_bytes": 0.75 * GIB,
    }
    for line, value in expected.items():
        # One line per workload, labelled with it (and not with the metric's name).
        (found,) = lines_named(data, line, h)
        assert found["labels"] == {"host": h, **WORKLOAD}, line
        values = [v for _, v in found["points"]]
        assert values and all(v == pytest.approx(value) for v in values), (line, values)


@pytest.mark.parametrize("step", STEPS)
async def test_devices(
    client: httpx.AsyncClient, hosts: Hosts, window: Window, step: float
) -> None:
    data = await history(client, "devices", host=hosts.main, **span(window, step))
    h = hosts.main
    disk = {"device": "/dev/nvme0"}
    (temperature,) = lines_named(data, "disk_temperature_celsius", h)
    # the current reading, not the limits the drive states
    assert temperature["labels"] == {"host": h, **disk, "temperature_type": "current"}
    assert only_value(data, "disk_temperature_celsius", h) == 40.0
    assert only_value(data, "disk_endurance_used_ratio", h, **disk) == pytest.approx(0.07)
    for line, value in (
        ("gpu_utilisation_ratio", 0.6),
        ("gpu_memory_used_ratio", 0.25),
        ("gpu_temperature_celsius", 55.0),
        ("gpu_power_watts", 42.5),
    ):
        (found,) = lines_named(data, line, h)
        assert found["labels"] == {"host": h, **GPU}, line
        assert only_value(data, line, h) == pytest.approx(value), line
    other = await history(client, "devices", host=hosts.other, **span(window, step))
    assert only_value(other, "gpu_memory_used_ratio", hosts.other) == pytest.approx(
        2 * 6144 / (2 * 6144 + 18432)
    )


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
    message = error(await client.get("/api/v1/metrics/gpus"), 400)
    assert message == (
        "unknown metric family 'gpus'; valid families: "
        "cpu, memory, disk, network, pressure, system, sensors, cgroups, devices"
    )


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
