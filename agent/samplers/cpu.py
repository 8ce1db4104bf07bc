"""Per-CPU time by mode (``node_cpu_seconds_total``) and the number of CPUs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psutil

from hostvitals.agent.samplers.base import NO_LABELS, Row, labels

MODES: tuple[str, ...] = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
"""The modes node_exporter reports on Linux; a platform without one simply omits it."""


def rows_from_cpu_times(per_cpu: Sequence[Any]) -> list[Row]:
    """Rows for ``psutil.cpu_times(percpu=True)``: one per CPU and mode the platform has."""
    rows: list[Row] = []
    for index, times in enumerate(per_cpu):
        cpu = str(index)
        for mode in MODES:
            value = getattr(times, mode, None)
            if value is not None:
                rows.append(("node_cpu_seconds_total", labels(cpu=cpu, mode=mode), float(value)))
    rows.append(("node_cpu_count", NO_LABELS, len(per_cpu)))
    return rows


class CpuSampler:
    name = "cpu"

    def collect(self) -> list[Row]:
        return rows_from_cpu_times(psutil.cpu_times(percpu=True))
