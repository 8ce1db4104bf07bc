"""A frame posted to the collector comes back through every query endpoint.

The frame (tests/support/frames.py) has known values: per CPU the idle counter grows 30/s and
the seven other modes 10/s each (so CPU use is 70 %), other counters grow 10/s, memory is 6 of
8 GiB available, the root filesystem has 35 of 100 GiB available.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from hostvitals.shared.codec import encode_frame
from tests.support.collector_app import msgpack_headers, serving, settings
from tests.support.frames import catalogue_frame, ticks_ending_now
from tests.support.processes import VictoriaMetrics

pytestmark = pytest.mark.integration

TICKS = 60


@pytest.fixture
async def posted(
    victoria_metrics: VictoriaMetrics,
) -> AsyncIterator[tuple[httpx.AsyncClient, str, float]]:
    """The collector app with one frame of TICKS seconds posted for a new host."""
    host = f"ingest-query-{uuid.uuid4().hex[:8]}"
    # Two minutes back: VictoriaMetrics may answer a query at "now" with the previous sample.
    end = (int(time.time()) - 120) * 1000
    frame = catalogue_frame(host, ticks_ending_now(TICKS, end_ms=end))
    async with serving(settings(victoriametrics={"url": victoria_metrics.url})) as (_, client):
        response = await client.post(
            "/api/v1/ingest", content=encode_frame(frame), headers=msgpack_headers()
        )
        assert response.status_code == 204, response.text
        victoria_metrics.flush()
        yield client, host, end / 1000


async def data(client: httpx.AsyncClient, path: str, **params: Any) -> Any:
    response = await client.get(path, params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "success", body
    return body["data"]


def lines(family: dict[str, Any], name: str) -> dict[tuple[tuple[str, str], ...], list[float]]:
    return {
        tuple(sorted(s["labels"].items())): [v for _, v in s["points"]]
        for s in family["series"]
        if s["name"] == name
    }


async def test_family_endpoints_return_the_posted_values(
    posted: tuple[httpx.AsyncClient, str, float],
) -> None:
    client, host, end = posted
    # The first window of a rate has no earlier sample; ask for the last 30 s only.
    window = {"host": host, "start": end - 30, "end": end, "step": 5}

    cpu = await data(client, "/api/v1/metrics/cpu", **window)
    (usage,) = lines(cpu, "cpu_usage_ratio").items()
    assert dict(usage[0]) == {"host": host}
    assert usage[1] and all(v == pytest.approx(0.7) for v in usage[1])
    assert {v for points in lines(cpu, "load1").values() for v in points} == {0.5}

    memory = await data(client, "/api/v1/metrics/memory", **window)
    assert {v for p in lines(memory, "memory_total_bytes").values() for v in p} == {8 * 2**30}
    (used,) = lines(memory, "memory_used_ratio").values()
    assert all(v == pytest.approx(0.25) for v in used)

    disk = await data(client, "/api/v1/metrics/disk", **window)
    reads = lines(disk, "read_bytes_per_second")
    assert {dict(k)["device"] for k in reads} == {"sda", "nvme0n1"}
    assert all(v == pytest.approx(10.0) for points in reads.values() for v in points)
    used_fs = {dict(k)["mountpoint"]: v for k, v in lines(disk, "filesystem_used_ratio").items()}
    assert all(v == pytest.approx(0.65) for v in used_fs["/"])

    network = await data(client, "/api/v1/metrics/network", **window)
    received = lines(network, "receive_bytes_per_second")
    assert {dict(k)["device"] for k in received} == {"eth0", "wlan0"}
    assert all(v == pytest.approx(10.0) for points in received.values() for v in points)
    assert all(dict(k)["host"] == host for k in received)


async def test_prometheus_endpoints_see_the_posted_series(
    posted: tuple[httpx.AsyncClient, str, float],
) -> None:
    client, host, end = posted
    selector = f'{{host="{host}"}}'

    (load,) = (await data(client, "/api/v1/query", query=f"node_load1{selector}", time=end))[
        "result"
    ]
    assert load["metric"] == {"__name__": "node_load1", "host": host}
    assert float(load["value"][1]) == 0.5

    ranged = await data(
        client,
        "/api/v1/query_range",
        query=f'node_network_receive_bytes_total{{host="{host}",device="eth0"}}',
        start=end - 9,
        end=end,
        step=1,
    )
    (series,) = ranged["result"]
    assert [float(v) for _, v in series["values"]] == [1000.0 + 10 * t for t in range(50, 60)]

    found = await data(
        client, "/api/v1/series", **{"match[]": f"node_filesystem_size_bytes{selector}"}
    )
    assert {(s["mountpoint"], s["fstype"], s["device"]) for s in found} == {
        ("/", "ext4", "/dev/sda1"),
        ("/data", "xfs", "/dev/sdb1"),
    }
    labels = await data(client, "/api/v1/labels", **{"match[]": selector})
    assert {"host", "cpu", "mode", "device", "mountpoint", "fstype", "pid"} <= set(labels)
    assert host in await data(client, "/api/v1/label/host/values")


async def test_live_endpoints_see_the_posted_frame(
    posted: tuple[httpx.AsyncClient, str, float],
) -> None:
    client, host, end = posted
    (snapshot,) = await data(client, "/api/v1/metrics/current", host=host)
    assert snapshot["timestamp"] == end
    assert snapshot["summary"]["cpu_usage_ratio"] == pytest.approx(0.7)
    assert snapshot["summary"]["memory_used_ratio"] == pytest.approx(0.25)

    by_cpu = await data(client, "/api/v1/metrics/processes", host=host, sort="cpu")
    assert [p["pid"] for p in by_cpu] == [777, 4242, 1]
    assert by_cpu[0] == {
        "pid": 777,
        "name": "python3",
        "user": "app",
        "cpu_usage_ratio": 0.9,
        "resident_memory_bytes": 120 * 2**20,
    }
    by_memory = await data(client, "/api/v1/metrics/processes", host=host, sort="memory", limit=1)
    assert [p["pid"] for p in by_memory] == [4242]

    hosts = {h["host"]: h for h in await data(client, "/api/v1/hosts")}
    assert hosts[host]["agent_id"] == "test-agent"
