"""The agent's own health (``hostvitals_agent_*``).

The agent's CPU time and resident memory are read here; sampler timings and errors come from
the registry and delivery counters from the sender, each through a ``stats_rows`` callable.
On Linux the memory comes from ``/proc/self/statm`` of the agent's own procfs, not from the
host's procfs the other samplers may read (``path_procfs``), where the agent's pid need not
be its own.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from hostvitals.agent.samplers.base import NO_LABELS, Row

StatsSource = Callable[[], list[Row]]

OWN_STATM = Path("/proc/self/statm")


def rss_from_statm(text: str, page_size: int) -> int:
    """Resident bytes from ``/proc/self/statm`` (sizes in pages: total, resident, ...)."""
    return int(text.split()[1]) * page_size


def rows_from_self(cpu_times: Any, rss: int) -> list[Row]:
    return [
        (
            "hostvitals_agent_cpu_seconds_total",
            NO_LABELS,
            float(cpu_times.user) + float(cpu_times.system),
        ),
        ("hostvitals_agent_resident_memory_bytes", NO_LABELS, int(rss)),
    ]


class AgentSelfSampler:
    name = "agent"

    def __init__(self, sources: Sequence[StatsSource] = (), statm: Path = OWN_STATM) -> None:
        self._sources = list(sources)
        self._statm = statm if statm.exists() else None
        self._process: Any = None
        if self._statm is None:
            import psutil

            self._process = psutil.Process(os.getpid())
        self._page_size = os.sysconf("SC_PAGE_SIZE") if self._statm is not None else 0

    def add_source(self, source: StatsSource) -> None:
        self._sources.append(source)

    def _rss(self) -> int:
        if self._statm is not None:
            return rss_from_statm(self._statm.read_text(encoding="ascii"), self._page_size)
        return int(self._process.memory_info().rss)

    def collect(self) -> list[Row]:
        rows = rows_from_self(os.times(), self._rss())
        for source in self._sources:
            rows.extend(source())
        return rows
