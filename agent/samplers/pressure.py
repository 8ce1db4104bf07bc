"""Pressure stall information (``node_pressure_*``) from ``/proc/pressure/{cpu,io,memory}``.

Each file has a ``some`` line (time during which at least one task waited for the resource)
and, for io and memory, a ``full`` line (time during which no task could make progress);
``total=`` is the cumulated stall in microseconds. A kernel built without PSI has no such
files, and one booted with ``psi=0`` answers reads with EOPNOTSUPP: the sampler then says so
once in the log and reports nothing from that resource again.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Callable, Mapping
from pathlib import Path

from hostvitals.agent.samplers.base import NO_LABELS, Row
from hostvitals.agent.samplers.paths import HostPaths, read_small

log = logging.getLogger(__name__)

RESOURCES: tuple[str, ...] = ("cpu", "io", "memory")

METRICS: Mapping[tuple[str, str], str] = {
    ("cpu", "some"): "node_pressure_cpu_waiting_seconds_total",
    ("io", "some"): "node_pressure_io_waiting_seconds_total",
    ("io", "full"): "node_pressure_io_stalled_seconds_total",
    ("memory", "some"): "node_pressure_memory_waiting_seconds_total",
    ("memory", "full"): "node_pressure_memory_stalled_seconds_total",
}
"""(resource, line) -> metric, as node_exporter names them. The cpu ``full`` line newer
kernels print is zero at the system level, and node_exporter leaves it out too."""

NO_PSI_ERRNOS = frozenset({errno.ENOENT, errno.EOPNOTSUPP, errno.ENOTSUP})
"""A file missing (no CONFIG_PSI, kernel before 4.20) or a read refused (``psi=0``)."""


def parse_pressure(text: str) -> dict[str, int]:
    """``some`` and ``full`` to their ``total=`` in microseconds; other lines are ignored.

    >>> parse_pressure("some avg10=0.00 avg60=0.00 avg300=0.00 total=12\\n")
    {'some': 12}
    """
    totals: dict[str, int] = {}
    for line in text.splitlines():
        kind, _, rest = line.partition(" ")
        for item in rest.split():
            key, sep, value = item.partition("=")
            if key == "total" and sep and value.isdigit():
                totals[kind] = int(value)
    return totals


def rows_from_pressure(resource: str, totals: Mapping[str, int]) -> list[Row]:
    """The rows of one resource, in seconds; a line the file lacks is skipped."""
    rows: list[Row] = []
    for kind in ("some", "full"):
        metric = METRICS.get((resource, kind))
        if metric is not None and kind in totals:
            rows.append((metric, NO_LABELS, totals[kind] / 1e6))
    return rows


class PressureSampler:
    name = "pressure"

    def __init__(
        self, paths: HostPaths | None = None, read: Callable[[Path], str] | None = None
    ) -> None:
        self._paths = paths or HostPaths()
        self._read = read or read_small
        self._resources: list[str] = list(RESOURCES)

    @property
    def resources(self) -> tuple[str, ...]:
        """The resources still read; those the kernel has no PSI for are dropped."""
        return tuple(self._resources)

    def collect(self) -> list[Row]:
        rows: list[Row] = []
        unavailable: dict[str, str] = {}
        for resource in self._resources:
            path = self._paths.proc("pressure", resource)
            try:
                text = self._read(path)
            except OSError as exc:
                if exc.errno not in NO_PSI_ERRNOS:
                    raise
                unavailable[resource] = f"{path}: {exc.strerror or exc}"
                continue
            rows.extend(rows_from_pressure(resource, parse_pressure(text)))
        if unavailable:
            self._resources = [r for r in self._resources if r not in unavailable]
            log.info(
                "pressure stall information unavailable (kernel without PSI, or booted with "
                "psi=0), not reported: %s",
                "; ".join(unavailable.values()),
            )
        return rows
