"""Services and containers of one host from the live view: per workload its CPU, memory,
I/O and pressure, as the cgroups sampler reports them (the top ones and an ``other``
aggregate).

A workload that left the sampler's top keeps its series in the live view until they expire;
only workloads reported at the newest scan are answered, so the table shows what the agent
sees now. The answer is bounded by the agent's top N (twice that at most, plus ``other``) and
by ``limit``.
"""

from __future__ import annotations

from typing import Any, Final

from hostvitals.collector.live.current import HostSnapshot, SeriesPoint

WORKLOAD_LABELS: Final = ("kind", "runtime", "name")
INFO: Final = "hostvitals_container_info"

RATES: Final = {
    "container_cpu_usage_seconds_total": "cpu_cores",
    "container_fs_reads_bytes_total": "read_bytes_per_second",
    "container_fs_writes_bytes_total": "write_bytes_per_second",
    "container_pressure_cpu_waiting_seconds_total": "cpu_waiting_ratio",
    "container_pressure_memory_waiting_seconds_total": "memory_waiting_ratio",
    "container_pressure_io_waiting_seconds_total": "io_waiting_ratio",
}
"""Counters, answered as their rate per second (CPU in cores, pressure as a share of time)."""
VALUES: Final = {
    "container_memory_usage_bytes": "memory_bytes",
    "container_memory_working_set_bytes": "working_set_bytes",
    "container_oom_events_total": "oom_events_total",
}
FIELDS: Final = (*RATES.values(), *VALUES.values())
SORT_KEYS: Final = ("cpu_cores", "memory_bytes")
WORKLOAD_METRICS: Final = frozenset({*RATES, *VALUES, INFO})
"""The series :func:`workloads` reads."""

WorkloadKey = tuple[str, str, str]


def workloads(snap: HostSnapshot, limit: int, sort: str = "cpu_cores") -> list[dict[str, Any]]:
    """The host's workloads reported at the newest cgroup scan, the largest ``sort`` first
    (``cpu_cores`` or ``memory_bytes``), at most ``limit``. Each has ``kind``, ``runtime``,
    ``name``, ``image`` (containers whose runtime named it, else None), ``timestamp`` (of the
    scan, Unix seconds) and :data:`FIELDS`
    (None until known: a rate needs two scans)."""
    groups: dict[WorkloadKey, list[SeriesPoint]] = {}
    images: dict[tuple[str, str], str] = {}
    for point in snap.series:
        if point.metric in RATES or point.metric in VALUES:
            key = (
                point.labels.get("kind", ""),
                point.labels.get("runtime", ""),
                point.labels.get("name", ""),
            )
            groups.setdefault(key, []).append(point)
        elif point.metric == INFO and point.labels.get("image"):
            images[(point.labels.get("runtime", ""), point.labels.get("name", ""))] = point.labels[
                "image"
            ]
    if not groups:
        return []
    newest = max(p.timestamp_ms for found in groups.values() for p in found)
    rows: list[dict[str, Any]] = []
    for (kind, runtime, name), found in groups.items():
        if max(p.timestamp_ms for p in found) < newest:
            continue  # no longer in the sampler's top
        row: dict[str, Any] = {
            "kind": kind,
            "runtime": runtime,
            "name": name,
            "image": images.get((runtime, name)),
            "timestamp": newest / 1000.0,
            **dict.fromkeys(FIELDS),
        }
        for point in found:
            if point.metric in RATES:
                row[RATES[point.metric]] = point.rate
            else:
                row[VALUES[point.metric]] = point.value
        rows.append(row)
    by = sort if sort in SORT_KEYS else "cpu_cores"

    def order(row: dict[str, Any]) -> tuple[bool, float, str]:
        value = row[by]
        # "other" last: it is the sum of everything not listed, not a workload.
        return (row["kind"] == "other", -(value if value is not None else -1.0), row["name"])

    return sorted(rows, key=order)[:limit]
