"""Per-device I/O counters (``node_disk_*``), whole disks and partitions alike.

Loop, RAM and zram devices (and loop partitions) are skipped, as node_exporter does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import psutil

from hostvitals.agent.samplers.base import Row, labels

IGNORED_DEVICES = re.compile(r"(loop|z?ram)\d+(p\d+)?")

# (psutil attribute, metric, scale). psutil reports times in milliseconds.
_COUNTERS: tuple[tuple[str, str, float | None], ...] = (
    ("read_count", "node_disk_reads_completed_total", None),
    ("write_count", "node_disk_writes_completed_total", None),
    ("read_bytes", "node_disk_read_bytes_total", None),
    ("write_bytes", "node_disk_written_bytes_total", None),
    ("read_time", "node_disk_read_time_seconds_total", 0.001),
    ("write_time", "node_disk_write_time_seconds_total", 0.001),
    ("busy_time", "node_disk_io_time_seconds_total", 0.001),
)


def rows_from_disk_counters(per_disk: Mapping[str, Any]) -> list[Row]:
    """Rows for ``psutil.disk_io_counters(perdisk=True)``; missing fields are skipped."""
    rows: list[Row] = []
    for device, counters in per_disk.items():
        if IGNORED_DEVICES.fullmatch(device):
            continue
        device_labels = labels(device=device)
        for attr, metric, scale in _COUNTERS:
            value = getattr(counters, attr, None)
            if value is None:
                continue
            rows.append((metric, device_labels, int(value) if scale is None else value * scale))
    return rows


class DiskSampler:
    name = "disk"

    def collect(self) -> list[Row]:
        # None when the platform has no disks to report (psutil warns and returns None/{}).
        return rows_from_disk_counters(psutil.disk_io_counters(perdisk=True) or {})
