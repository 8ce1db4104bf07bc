"""Kernel-wide counters and gauges: ``/proc/stat`` (boot time, context switches, interrupts,
forks, runnable and blocked tasks), ``/proc/sys/fs/file-nr`` (file handles) and
``/proc/sys/kernel/random/entropy_avail``, under node_exporter's names.

``/proc/stat`` is required; the two small files are optional (some containers hide them):
a missing one is said once in the log and its series are left out.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from hostvitals.agent.samplers.base import NO_LABELS, Row
from hostvitals.agent.samplers.paths import HostPaths, read_small

log = logging.getLogger(__name__)

STAT_METRICS: Mapping[str, str] = {
    "btime": "node_boot_time_seconds",
    "ctxt": "node_context_switches_total",
    "intr": "node_intr_total",
    "processes": "node_forks_total",
    "procs_running": "node_procs_running",
    "procs_blocked": "node_procs_blocked",
}
"""``/proc/stat`` line -> metric. Only the first number of a line counts (``intr`` goes on
with one count per interrupt line)."""


def parse_stat(text: str) -> dict[str, int]:
    """The ``STAT_METRICS`` lines of ``/proc/stat`` that are present and numeric."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split(maxsplit=2)
        if len(parts) >= 2 and parts[0] in STAT_METRICS and parts[1].isdigit():
            out[parts[0]] = int(parts[1])
    return out


def rows_from_stat(stat: Mapping[str, int]) -> list[Row]:
    return [(metric, NO_LABELS, stat[key]) for key, metric in STAT_METRICS.items() if key in stat]


def parse_file_nr(text: str) -> tuple[int, int]:
    """``(allocated, maximum)`` from ``/proc/sys/fs/file-nr``: allocated, unused (always 0
    since 2.6), maximum."""
    fields = text.split()
    if len(fields) != 3:
        raise ValueError(f"file-nr has {len(fields)} fields, expected 3: {text!r}")
    return int(fields[0]), int(fields[2])


def rows_from_file_nr(allocated: int, maximum: int) -> list[Row]:
    return [
        ("node_filefd_allocated", NO_LABELS, allocated),
        ("node_filefd_maximum", NO_LABELS, maximum),
    ]


def parse_entropy_avail(text: str) -> int:
    return int(text.strip())


class SystemSampler:
    name = "system"

    def __init__(self, paths: HostPaths | None = None) -> None:
        paths = paths or HostPaths()
        self._stat = paths.proc("stat")
        self._file_nr = paths.proc("sys", "fs", "file-nr")
        self._entropy = paths.proc("sys", "kernel", "random", "entropy_avail")
        self._missing: set[Path] = set()

    def collect(self) -> list[Row]:
        rows = rows_from_stat(parse_stat(read_small(self._stat)))
        if (text := self._optional(self._file_nr)) is not None:
            rows.extend(rows_from_file_nr(*parse_file_nr(text)))
        if (text := self._optional(self._entropy)) is not None:
            rows.append(("node_entropy_available_bits", NO_LABELS, parse_entropy_avail(text)))
        return rows

    def _optional(self, path: Path) -> str | None:
        """The file's text; None (said once) when it does not exist."""
        if path in self._missing:
            return None
        try:
            return read_small(path)
        except FileNotFoundError:
            self._missing.add(path)
            log.info("%s does not exist; its series are not reported", path)
            return None
