"""The whole path with real processes: agent -> collector -> VictoriaMetrics -> query API."""

from __future__ import annotations

import time
from typing import Any

import psutil
import pytest
import requests

from tests.e2e.conftest import StartAgent, StartCollector
from tests.support.processes import wait_until

pytestmark = pytest.mark.e2e


def get(url: str, **params: Any) -> Any:
    response = requests.get(url, params=params, timeout=10)
    assert response.status_code == 200, f"{url}: {response.status_code} {response.text}"
    body = response.json()
    assert body["status"] == "success", body
    return body["data"]


def series_values(snapshot: dict[str, Any], metric: str) -> dict[tuple[tuple[str, str], ...], Any]:
    return {
        tuple(sorted(s["labels"].items())): s["value"]
        for s in snapshot["series"]
        if s["metric"] == metric
    }


def test_agent_metrics_reach_every_query_endpoint(
    start_collector: StartCollector, start_agent: StartAgent, host_name: str
) -> None:
    collector = start_collector()
    agent = start_agent(collector.url, host_name, env={"HOSTVITALS_AGENT_FLUSH_INTERVAL": "2"})
    api = f"{collector.url}/api/v1"

    def host_is_up() -> bool:
        assert agent.running(), agent.log_tail()
        hosts = get(f"{api}/hosts")
        return any(h["host"] == host_name and h["status"] == "up" for h in hosts)

    wait_until(host_is_up, 30, f"{host_name} to report", step=0.5)

    def snapshot() -> dict[str, Any]:
        (snap,) = get(f"{api}/metrics/current", host=host_name)
        assert snap["host"] == host_name
        return snap

    def processes_arrived() -> bool:
        summary = snapshot()["summary"]
        procs = requests.get(f"{api}/metrics/processes", params={"host": host_name}, timeout=10)
        return (
            summary["cpu_usage_ratio"] is not None
            and procs.status_code == 200
            and len(procs.json()["data"]) > 0
        )

    wait_until(processes_arrived, 30, "rates and processes", step=0.5)
    first = snapshot()

    # Memory: the agent reads what psutil reads here.
    assert series_values(first, "node_memory_MemTotal_bytes") == {(): psutil.virtual_memory().total}
    summary = first["summary"]
    assert 0.0 <= summary["cpu_usage_ratio"] <= 1.0
    assert 0.0 < summary["memory_used_ratio"] < 1.0
    assert summary["load1"] >= 0.0

    # Filesystems: the root mount, with the size psutil reports.
    sizes = series_values(first, "node_filesystem_size_bytes")
    root = [value for labels, value in sizes.items() if ("mountpoint", "/") in labels]
    assert root == [psutil.disk_usage("/").total]

    # Network: every non-loopback interface psutil sees.
    received = series_values(first, "node_network_receive_bytes_total")
    devices = {dict(labels)["device"] for labels in received}
    assert devices == set(psutil.net_io_counters(pernic=True)) - {"lo"}

    # Counters only go up from one frame to the next.
    first_cpu = series_values(first, "node_cpu_seconds_total")
    assert len(first_cpu) == 8 * psutil.cpu_count()
    wait_until(lambda: snapshot()["timestamp"] > first["timestamp"], 10, "a newer frame")
    second = snapshot()
    for metric, earlier in (
        ("node_cpu_seconds_total", first_cpu),
        ("node_network_receive_bytes_total", received),
        ("node_disk_written_bytes_total", series_values(first, "node_disk_written_bytes_total")),
    ):
        later = series_values(second, metric)
        assert later.keys() == earlier.keys(), metric
        assert all(later[k] >= earlier[k] for k in earlier), metric

    # Top processes: real pids, sorted by the requested key.
    procs = get(f"{api}/metrics/processes", host=host_name, limit=5, sort="memory")
    assert 0 < len(procs) <= 5
    rss = [p["resident_memory_bytes"] for p in procs]
    assert rss == sorted(rss, reverse=True)
    assert all(isinstance(p["pid"], int) and p["name"] for p in procs)

    # History from VictoriaMetrics, per family.
    end = time.time() + 1
    window = {"host": host_name, "start": end - 120, "end": end, "step": 1}
    cpu = get(f"{api}/metrics/cpu", **window)
    usage = [s for s in cpu["series"] if s["name"] == "cpu_usage_ratio"]
    assert usage and all(0.0 <= v <= 1.0 for _, v in usage[0]["points"])
    assert all(s["labels"]["host"] == host_name for s in cpu["series"])

    memory = get(f"{api}/metrics/memory", **window)
    totals = [s for s in memory["series"] if s["name"] == "memory_total_bytes"]
    assert totals and {v for _, v in totals[0]["points"]} == {psutil.virtual_memory().total}

    disk = get(f"{api}/metrics/disk", **window)
    used = [
        s
        for s in disk["series"]
        if s["name"] == "filesystem_used_ratio" and s["labels"]["mountpoint"] == "/"
    ]
    assert used and all(0.0 < v < 1.0 for _, v in used[0]["points"])

    network = get(f"{api}/metrics/network", **window)
    rx = {
        s["labels"]["device"] for s in network["series"] if s["name"] == "receive_bytes_per_second"
    }
    assert rx == devices

    # The Prometheus-compatible pass-through answers with the same data.
    query = f'node_memory_MemTotal_bytes{{host="{host_name}"}}'
    result = get(f"{api}/query", query=query)["result"]
    assert [float(r["value"][1]) for r in result] == [psutil.virtual_memory().total]
