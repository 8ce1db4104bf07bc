"""The history tests' data and helpers: samples with known rates and values, imported straight
into VictoriaMetrics through its JSON-lines import, one sample a second, for hosts named for
this run; and helpers that ask the history API and pick lines and values out of its answers.

Every expected number in test_query_api.py, test_reader.py and test_query_cache.py follows
from these samples. The fixtures that import them are in this directory's conftest.py.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

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

# Per-second increments of a service's cgroup counters (container_* metrics).
WORKLOAD_RATES = {
    "container_cpu_usage_seconds_total": 0.75,
    "container_fs_reads_bytes_total": 2048.0,
    "container_fs_writes_bytes_total": 1024.0,
    "container_pressure_cpu_waiting_seconds_total": 0.05,
    "container_pressure_memory_waiting_seconds_total": 0.02,
    "container_pressure_io_waiting_seconds_total": 0.1,
}
WORKLOAD = {"kind": "service", "runtime": "systemd", "name": "postgres.service"}
GPU = {
    "gpu": "0",
    "UUID": "GPU-5d1a7c2e-0000-4000-8000-000000000000",
    "pci_bus_id": "00000000:01:00.0",
    "device": "nvidia0",
    "modelName": "NVIDIA L4",
}


@dataclass(frozen=True)
class Window:
    """Where the samples are: one a second from ``first`` for ``SAMPLES`` seconds.

    Queries start two minutes in: widened to whole steps (up to 59 s earlier at a 1 min
    step), a query still has a full minute of samples before its first point, so a rate
    there has two samples even for the host whose samples arrive up to 0.6 s late.
    """

    first: int

    @property
    def start(self) -> int:
        return self.first + 120

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
    workload = {"host": host, **WORKLOAD}
    for name, rate in WORKLOAD_RATES.items():
        lines.append(series_line(name, workload, timestamps_ms, counter(rate, timestamps_ms)))
    for name, value in (
        ("container_memory_usage_bytes", GIB * scale),
        ("container_memory_working_set_bytes", 0.75 * GIB * scale),
    ):
        lines.append(series_line(name, workload, timestamps_ms, [value] * n))
    disk = {"host": host, "device": "/dev/nvme0"}
    card = {"host": host, **GPU}
    for name, labels, value in (
        ("smartctl_device_temperature", {**disk, "temperature_type": "current"}, 40.0 * scale),
        ("smartctl_device_temperature", {**disk, "temperature_type": "critical"}, 85.0),
        ("smartctl_device_percentage_used", disk, 7.0 * scale),
        ("DCGM_FI_DEV_GPU_UTIL", card, 60.0),
        ("DCGM_FI_DEV_FB_USED", card, 6144.0 * scale),
        ("DCGM_FI_DEV_FB_FREE", card, 18432.0),
        ("DCGM_FI_DEV_GPU_TEMP", card, 55.0),
        ("DCGM_FI_DEV_POWER_USAGE", card, 42.5 * scale),
    ):
        lines.append(series_line(name, labels, timestamps_ms, [value] * n))
    return lines


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
