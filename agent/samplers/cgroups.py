"""Services and containers from the cgroup tree, under cAdvisor's names:
``container_cpu_usage_seconds_total``, ``container_memory_usage_bytes``,
``container_memory_working_set_bytes``, ``container_fs_{reads,writes}_bytes_total``,
``container_pressure_{cpu,memory,io}_waiting_seconds_total`` and
``container_oom_events_total``, each labelled ``kind`` (``service`` or ``container``),
``runtime`` and ``name``.

A scan walks the tree (at most ``MAX_GROUPS`` directories, ``MAX_DEPTH`` deep) and reads two
files of every workload (CPU and memory) to rank them; only the top ``top_n`` by CPU since
the last scan and the top ``top_n`` by memory have their other files read and are reported.
The rest add up into one ``kind="other"`` series of CPU, memory and I/O, whose counters grow
by the others' increments, so they never go backwards when a workload moves in or out of the
top. The number of series stays bounded on a host with 500 containers.

Most workloads on a busy host sit idle, so a scan reads less of them: one outside the top
whose CPU time did not move since the previous scan (and that was not in the top then) keeps
its last memory and I/O figures for up to ``REFRESH_SCANS`` scans instead of having those
files read again. What that costs: the
memory of an idle workload outside the top, in the ranking and in ``other``, may be that many
scans old, and I/O charged to it without CPU use (pages its processes dirtied, written back by
the kernel) reaches ``other`` that much later; counters never lose an increment. The top
workloads are read in full on every scan. Files read on every scan stay open between scans
(``keptfiles``).

The tree (``cgroup_mounts``) is cgroup v2's on a v2 host, and the v1 controllers' on a v1 or
hybrid host: there systemd keeps the controllers in v1, and the hybrid ``unified`` tree gives
only pressure (``cgroup_sources``). A host with neither reports nothing. Containers are named
by their runtime where its socket is readable (``container_names``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from hostvitals.agent.samplers.base import Labels, Row, labels
from hostvitals.agent.samplers.cgroup_files import Workload
from hostvitals.agent.samplers.cgroup_mounts import Layout, find_layout
from hostvitals.agent.samplers.cgroup_sources import (
    CPU,
    MEMORY,
    READS,
    WRITES,
    ControllerTrees,
    Reader,
    Source,
    UnifiedTree,
)
from hostvitals.agent.samplers.container_names import ContainerNames
from hostvitals.agent.samplers.keptfiles import KeptFiles, share_of_open_files
from hostvitals.agent.samplers.paths import HostPaths, read_small

log = logging.getLogger(__name__)

INFO = "hostvitals_container_info"
OTHER_COUNTERS = (CPU, READS, WRITES)
"""What the ``other`` aggregate carries: the files read of every workload on every scan."""
OTHER: Labels = labels(kind="other", runtime="mixed", name="other")
REFRESH_SCANS = 6
"""Scans an idle workload outside the top keeps its memory and I/O figures (60 s at the
default 10 s interval)."""
KEPT_OPEN = 1024
"""Most cgroup files kept open between scans (also at most a quarter of the soft limit on open
files)."""


def source_for(layout: Layout, read: Reader) -> Source | None:
    """Where the numbers come from: the v1 controllers when CPU or memory accounting is
    bound to v1 (a v1-only or hybrid host), else the v2 tree, else nowhere."""
    v1 = layout.controllers
    if "cpuacct" in v1 or "memory" in v1:
        return ControllerTrees(
            read,
            cpuacct=v1.get("cpuacct"),
            memory=v1.get("memory"),
            blkio=v1.get("blkio"),
            unified=layout.unified,
        )
    if layout.unified is not None:
        return UnifiedTree(layout.unified, read)
    return None


@dataclass(slots=True)
class Reading:
    key: str
    workload: Workload
    cpu_s: float | None
    memory: int | None
    idle: bool = False
    """Its CPU time did not move and its last figures are fresh enough to keep."""


@dataclass(slots=True)
class Seen:
    """What the previous scan learned of one workload."""

    counters: dict[str, float] = field(default_factory=dict)
    memory: int | None = None
    age: int = 0
    """Scans since its memory and I/O files were last read."""
    top: bool = False
    """It was in the top (reported on its own): the scan after it leaves reads it in full."""


class CgroupsSampler:
    name = "cgroups"

    def __init__(
        self,
        paths: HostPaths | None = None,
        top_n: int = 10,
        read: Callable[[str], str] | None = None,
        names: ContainerNames | None = None,
    ) -> None:
        self._paths = paths or HostPaths()
        self._top_n = top_n
        self._kept = KeptFiles(share_of_open_files(0.25, KEPT_OPEN)) if read is None else None
        self._read = read or (self._kept.read if self._kept is not None else read_small)
        self._names = names if names is not None else ContainerNames(self._paths)
        self._source: Source | None = None
        self._looked = False
        self._last: dict[str, Seen] = {}  # every workload of the last scan
        self._other: dict[str, float] = dict.fromkeys(OTHER_COUNTERS, 0.0)

    def collect(self) -> list[Row]:
        if not self._looked:
            self._looked = True
            layout = find_layout(self._paths)
            self._source = source_for(layout, self._read)
            if self._source is None:
                log.info(
                    "no cgroup v2 tree or v1 cpuacct or memory controller below %s: "
                    "services and containers not reported",
                    self._paths.sys("fs", "cgroup"),
                )
            else:
                log.info(
                    "services and containers from cgroup %s (%s)",
                    self._source.version,
                    layout.describe(),
                )
        source = self._source
        if source is None:
            return []
        previous = self._last
        readings = [r for key, w in source.workloads() if (r := self._rank(source, key, w))]
        chosen = self._top(readings, previous)
        rows: list[Row] = []
        current: dict[str, Seen] = {}
        other_memory = 0
        for reading in readings:
            before = previous.get(reading.key)
            full = reading.key in chosen
            if reading.idle and before is not None:
                if not full:  # nothing grew: "other" stays as it is
                    current[reading.key] = Seen(before.counters, before.memory, before.age + 1)
                    other_memory += before.memory or 0
                    continue
                reading.memory = source.read_memory(reading.key)  # in the top: read in full
            counters: dict[str, float] = {} if reading.cpu_s is None else {CPU: reading.cpu_s}
            more, gauges = source.details(reading.key, reading.memory, full=full)
            counters.update(more)
            current[reading.key] = Seen(counters, reading.memory, top=full)
            if full:
                where = self._labels(reading.workload)
                rows.extend((metric, where, value) for metric, value in counters.items())
                rows.extend((metric, where, value) for metric, value in gauges.items())
                if reading.workload.kind == "container":
                    rows.append(self._info(reading.workload))
                continue
            if before is not None:
                for metric in OTHER_COUNTERS:
                    if metric in counters:
                        then = before.counters.get(metric, counters[metric])
                        self._other[metric] += max(0.0, counters[metric] - then)
            other_memory += int(gauges.get(MEMORY, 0))
        self._last = current
        if self._kept is not None:
            self._kept.sweep()
        if len(readings) > len(chosen):
            rows.extend((metric, OTHER, value) for metric, value in self._other.items())
            rows.append((MEMORY, OTHER, other_memory))
        return rows

    def _rank(self, source: Source, key: str, workload: Workload) -> Reading | None:
        """CPU and memory of a workload; memory as last read while its CPU does not move."""
        before = self._last.get(key)
        then = before.counters.get(CPU) if before is not None else None
        may_keep = (
            before is not None
            and then is not None
            and not before.top
            and before.age + 1 < REFRESH_SCANS
        )
        ranked = source.rank(key, memory=not may_keep)
        if ranked is None:
            return None
        cpu_s, memory = ranked
        if may_keep and before is not None:
            if cpu_s == then:
                return Reading(key, workload, cpu_s, before.memory, idle=True)
            memory = source.read_memory(key)
        return Reading(key, workload, cpu_s, memory)

    def _top(self, readings: list[Reading], previous: dict[str, Seen]) -> set[str]:
        def cpu_delta(r: Reading) -> float:
            if r.cpu_s is None:
                return 0.0
            if not previous:  # the first scan: CPU time since each workload started
                return r.cpu_s
            seen = previous.get(r.key)
            before = seen.counters.get(CPU) if seen is not None else None
            return r.cpu_s - before if before is not None else 0.0

        by_cpu = sorted(readings, key=cpu_delta, reverse=True)[: self._top_n]
        by_memory = sorted(readings, key=lambda r: r.memory or 0, reverse=True)[: self._top_n]
        return {r.key for r in (*by_cpu, *by_memory)}

    def _labels(self, workload: Workload) -> Labels:
        name = self._names.name(workload) if workload.kind == "container" else workload.short
        return labels(kind=workload.kind, runtime=workload.runtime, name=name)

    def _info(self, workload: Workload) -> Row:
        where = labels(
            runtime=workload.runtime,
            name=self._names.name(workload),
            image=self._names.image(workload),
            id=workload.short,
        )
        return (INFO, where, 1)
