"""The agent's own health (``hostvitals_agent_*``).

The agent's CPU time and resident memory are read here; sampler timings and errors come from
the registry and delivery counters from the sender, each through a ``stats_rows`` callable.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import psutil

from hostvitals.agent.samplers.base import NO_LABELS, Row

StatsSource = Callable[[], list[Row]]


def rows_from_self(cpu_times: Any, memory_info: Any) -> list[Row]:
    return [
        (
            "hostvitals_agent_cpu_seconds_total",
            NO_LABELS,
            float(cpu_times.user) + float(cpu_times.system),
        ),
        ("hostvitals_agent_resident_memory_bytes", NO_LABELS, int(memory_info.rss)),
    ]


class AgentSelfSampler:
    name = "agent"

    def __init__(self, sources: Sequence[StatsSource] = ()) -> None:
        self._sources = list(sources)
        self._process = psutil.Process(os.getpid())

    def add_source(self, source: StatsSource) -> None:
        self._sources.append(source)

    def collect(self) -> list[Row]:
        rows = rows_from_self(os.times(), self._process.memory_info())
        for source in self._sources:
            rows.extend(source())
        return rows
