"""Headline numbers for one host, derived from its newest series values and counter rates.

Each number is ``None`` until it can be derived (a rate needs two points of a counter).

- ``cpu_usage_ratio``: 1 - idle / all, over the rates of ``node_cpu_seconds_total`` of every
  CPU and mode (0..1).
- ``memory_used_ratio``: 1 - MemAvailable / MemTotal.
- ``swap_used_ratio``: 1 - SwapFree / SwapTotal; 0 on a host without swap.
- ``filesystem_max_used_ratio``: the fullest filesystem, as ``df`` counts it:
  (size - free) / (size - free + avail).
- network and disk byte rates: sums over devices.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from hostvitals.collector.live.current import SeriesPoint

SUMMARY_METRICS: Final = frozenset(
    {
        "node_cpu_seconds_total",
        "node_memory_MemTotal_bytes",
        "node_memory_MemAvailable_bytes",
        "node_memory_SwapTotal_bytes",
        "node_memory_SwapFree_bytes",
        "node_load1",
        "node_load5",
        "node_load15",
        "node_filesystem_size_bytes",
        "node_filesystem_free_bytes",
        "node_filesystem_avail_bytes",
        "node_network_receive_bytes_total",
        "node_network_transmit_bytes_total",
        "node_disk_read_bytes_total",
        "node_disk_written_bytes_total",
    }
)
"""The series :func:`summarise` reads; it gives the same numbers from these alone."""

SUMMARY_KEYS = (
    "cpu_usage_ratio",
    "memory_used_ratio",
    "swap_used_ratio",
    "load1",
    "load5",
    "load15",
    "filesystem_max_used_ratio",
    "network_receive_bytes_per_second",
    "network_transmit_bytes_per_second",
    "disk_read_bytes_per_second",
    "disk_written_bytes_per_second",
)


def summarise(points: Iterable[SeriesPoint]) -> dict[str, float | None]:
    by_metric: dict[str, list[SeriesPoint]] = {}
    for point in points:
        by_metric.setdefault(point.metric, []).append(point)

    def single(metric: str) -> float | None:
        found = by_metric.get(metric)
        return float(found[0].value) if found else None

    mem_total = single("node_memory_MemTotal_bytes")
    mem_avail = single("node_memory_MemAvailable_bytes")
    swap_total = single("node_memory_SwapTotal_bytes")
    swap_free = single("node_memory_SwapFree_bytes")
    return {
        "cpu_usage_ratio": _cpu_usage(by_metric.get("node_cpu_seconds_total", [])),
        "memory_used_ratio": _used(mem_total, mem_avail),
        "swap_used_ratio": 0.0 if swap_total == 0 else _used(swap_total, swap_free),
        "load1": single("node_load1"),
        "load5": single("node_load5"),
        "load15": single("node_load15"),
        "filesystem_max_used_ratio": _filesystem_max_used(by_metric),
        "network_receive_bytes_per_second": _rate_sum(
            by_metric.get("node_network_receive_bytes_total")
        ),
        "network_transmit_bytes_per_second": _rate_sum(
            by_metric.get("node_network_transmit_bytes_total")
        ),
        "disk_read_bytes_per_second": _rate_sum(by_metric.get("node_disk_read_bytes_total")),
        "disk_written_bytes_per_second": _rate_sum(by_metric.get("node_disk_written_bytes_total")),
    }


def _clamp(ratio: float) -> float:
    return min(1.0, max(0.0, ratio))


def _used(total: float | None, free: float | None) -> float | None:
    if total is None or free is None or total <= 0:
        return None
    return _clamp(1.0 - free / total)


def _cpu_usage(points: list[SeriesPoint]) -> float | None:
    total = idle = 0.0
    for point in points:
        if point.rate is None:
            return None
        total += point.rate
        if point.labels.get("mode") == "idle":
            idle += point.rate
    if not points or total <= 0:
        return None
    return _clamp(1.0 - idle / total)


def _filesystem_max_used(by_metric: dict[str, list[SeriesPoint]]) -> float | None:
    def by_fs(metric: str) -> dict[tuple[tuple[str, str], ...], float]:
        return {tuple(sorted(p.labels.items())): float(p.value) for p in by_metric.get(metric, [])}

    sizes = by_fs("node_filesystem_size_bytes")
    frees = by_fs("node_filesystem_free_bytes")
    avails = by_fs("node_filesystem_avail_bytes")
    worst: float | None = None
    for key, size in sizes.items():
        free, avail = frees.get(key), avails.get(key)
        if free is None or avail is None or size <= 0:
            continue
        used = size - free
        capacity = used + avail
        if capacity <= 0:
            continue
        ratio = _clamp(used / capacity)
        worst = ratio if worst is None else max(worst, ratio)
    return worst


def _rate_sum(points: list[SeriesPoint] | None) -> float | None:
    """The sum of the known rates; None when no device has a rate yet."""
    rates = [p.rate for p in points or () if p.rate is not None]
    return sum(rates) if rates else None
