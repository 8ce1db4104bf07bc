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

CPU: Final = "node_cpu_seconds_total"
MEMORY: Final = ("node_memory_MemTotal_bytes", "node_memory_MemAvailable_bytes")
"""(total, available)"""
SWAP: Final = ("node_memory_SwapTotal_bytes", "node_memory_SwapFree_bytes")
"""(total, free)"""
LOADS: Final = {"load1": "node_load1", "load5": "node_load5", "load15": "node_load15"}
"""Numbers that are one gauge's value, by key."""
FILESYSTEM: Final = (
    "node_filesystem_size_bytes",
    "node_filesystem_free_bytes",
    "node_filesystem_avail_bytes",
)
"""(size, free, available) of each filesystem"""
RATE_SUMS: Final = {
    "network_receive_bytes_per_second": "node_network_receive_bytes_total",
    "network_transmit_bytes_per_second": "node_network_transmit_bytes_total",
    "disk_read_bytes_per_second": "node_disk_read_bytes_total",
    "disk_written_bytes_per_second": "node_disk_written_bytes_total",
}
"""Numbers that are the sum over devices of one counter's rate, by key."""

SUMMARY_METRICS: Final = frozenset(
    {CPU, *MEMORY, *SWAP, *LOADS.values(), *FILESYSTEM, *RATE_SUMS.values()}
)
"""The series :func:`summarise` reads; it gives the same numbers from these alone."""

SUMMARY_KEYS: Final = (
    "cpu_usage_ratio",
    "memory_used_ratio",
    "swap_used_ratio",
    *LOADS,
    "filesystem_max_used_ratio",
    *RATE_SUMS,
)
"""The keys of :func:`summarise`'s answer, in order."""


def summarise(points: Iterable[SeriesPoint]) -> dict[str, float | None]:
    by_metric: dict[str, list[SeriesPoint]] = {}
    for point in points:
        by_metric.setdefault(point.metric, []).append(point)

    def single(metric: str) -> float | None:
        found = by_metric.get(metric)
        return float(found[0].value) if found else None

    swap_total, swap_free = (single(m) for m in SWAP)
    out: dict[str, float | None] = {
        "cpu_usage_ratio": _cpu_usage(by_metric.get(CPU, [])),
        "memory_used_ratio": _used(*(single(m) for m in MEMORY)),
        "swap_used_ratio": 0.0 if swap_total == 0 else _used(swap_total, swap_free),
    }
    out.update({key: single(metric) for key, metric in LOADS.items()})
    out["filesystem_max_used_ratio"] = _filesystem_max_used(by_metric)
    out.update({key: _rate_sum(by_metric.get(metric)) for key, metric in RATE_SUMS.items()})
    return out


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

    sizes, frees, avails = (by_fs(metric) for metric in FILESYSTEM)
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
