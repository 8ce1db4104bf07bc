"""Services and containers from the cgroup v2 tree, under cAdvisor's names:
``container_cpu_usage_seconds_total``, ``container_memory_usage_bytes``,
``container_memory_working_set_bytes``, ``container_fs_{reads,writes}_bytes_total``,
``container_pressure_{cpu,memory,io}_waiting_seconds_total`` and
``container_oom_events_total``, each labelled ``kind`` (``service`` or ``container``),
``runtime`` and ``name``.

A scan walks the tree (at most ``MAX_GROUPS`` directories, ``MAX_DEPTH`` deep) and reads two
files of every workload (``cpu.stat``, ``memory.current``) to rank them; only the top
``top_n`` by CPU since the last scan and the top ``top_n`` by memory have their other files
read and are reported. The rest add up into one ``kind="other"`` series of CPU, memory and
I/O, whose counters grow by the others' increments, so they never go backwards when a workload
moves in or out of the top. The number of series stays bounded on a host with 500 containers.

The tree is the unified hierarchy: ``/sys/fs/cgroup`` on a cgroup v2 host, or its
``unified`` mount on a hybrid one. A v1-only host has neither, and reports nothing.
Containers are named by their runtime where its socket is readable (``.names``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from hostvitals.agent.samplers.base import Labels, Row, labels
from hostvitals.agent.samplers.cgroup_files import (
    Workload,
    classify,
    parse_flat_keyed,
    parse_io_stat,
    parse_single,
    working_set,
)
from hostvitals.agent.samplers.container_names import ContainerNames
from hostvitals.agent.samplers.paths import HostPaths, read_small
from hostvitals.agent.samplers.pressure import parse_pressure

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_GROUPS = 4000
"""Most cgroup directories one scan looks at."""
MAX_DEPTH = 8

CPU = "container_cpu_usage_seconds_total"
MEMORY = "container_memory_usage_bytes"
WORKING_SET = "container_memory_working_set_bytes"
READS = "container_fs_reads_bytes_total"
WRITES = "container_fs_writes_bytes_total"
OOM = "container_oom_events_total"
PRESSURE = {
    "cpu": "container_pressure_cpu_waiting_seconds_total",
    "memory": "container_pressure_memory_waiting_seconds_total",
    "io": "container_pressure_io_waiting_seconds_total",
}
INFO = "hostvitals_container_info"
OTHER_COUNTERS = (CPU, READS, WRITES)
"""What the ``other`` aggregate carries: the files read of every workload on every scan."""
OTHER: Labels = labels(kind="other", runtime="mixed", name="other")


def cgroup_root(paths: HostPaths) -> Path | None:
    """The unified hierarchy's root, or None on a host without one."""
    for candidate in (paths.sys("fs", "cgroup"), paths.sys("fs", "cgroup", "unified")):
        if (candidate / "cgroup.procs").exists() and (candidate / "cpu.stat").exists():
            return candidate
    return None


def walk(root: Path, max_groups: int = MAX_GROUPS) -> Iterator[tuple[str, Workload]]:
    """The workloads below ``root``, by directory path; a workload's own children are not
    walked (its files already count them, cgroup v2 counters being hierarchical).

    Paths are strings, joined with ``/``: a scan reads several files of hundreds of
    directories, and building ``Path`` objects for them was a third of its interpreter time.
    """
    seen = 0
    stack: list[tuple[str, str, int]] = [(str(root), "", 0)]
    while stack:
        directory, relative, depth = stack.pop()
        try:
            entries = sorted(
                e.name for e in os.scandir(directory) if e.is_dir(follow_symlinks=False)
            )
        except OSError:
            continue
        for name in reversed(entries):
            seen += 1
            if seen > max_groups:
                return
            child = f"{relative}/{name}" if relative else name
            found = classify(child)
            if found is not None:
                yield f"{directory}/{name}", found
            elif depth + 1 < MAX_DEPTH:
                stack.append((f"{directory}/{name}", child, depth + 1))


@dataclass(slots=True)
class Reading:
    path: str
    workload: Workload
    cpu_s: float
    memory: int | None


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
        self._read = read or read_small
        self._names = names if names is not None else ContainerNames(self._paths)
        self._root: Path | None = None
        self._looked = False
        self._last: dict[str, dict[str, float]] = {}  # counters of every workload last scan
        self._other: dict[str, float] = dict.fromkeys(OTHER_COUNTERS, 0.0)

    def collect(self) -> list[Row]:
        if not self._looked:
            self._looked = True
            self._root = cgroup_root(self._paths)
            if self._root is None:
                log.info(
                    "no cgroup v2 hierarchy below %s: services and containers not reported",
                    self._paths.sys("fs", "cgroup"),
                )
        if self._root is None:
            return []
        readings = [r for path, w in walk(self._root) if (r := self._rank_read(path, w))]
        previous = self._last
        chosen = self._top(readings, previous)
        rows: list[Row] = []
        current: dict[str, dict[str, float]] = {}
        other_memory = 0
        for reading in readings:
            counters, gauges = self._details(reading, full=reading.path in chosen)
            current[reading.path] = counters
            if reading.path in chosen:
                where = self._labels(reading.workload)
                rows.extend((metric, where, value) for metric, value in counters.items())
                rows.extend((metric, where, value) for metric, value in gauges.items())
                if reading.workload.kind == "container":
                    rows.append(self._info(reading.workload))
                continue
            before = previous.get(reading.path)
            if before is not None:
                for metric in OTHER_COUNTERS:
                    if metric in counters:
                        now, then = counters[metric], before.get(metric, counters[metric])
                        self._other[metric] += max(0.0, now - then)
            other_memory += int(gauges.get(MEMORY, 0))
        self._last = current
        if len(readings) > len(chosen):
            rows.extend((metric, OTHER, value) for metric, value in self._other.items())
            rows.append((MEMORY, OTHER, other_memory))
        return rows

    def _rank_read(self, path: str, workload: Workload) -> Reading | None:
        try:
            cpu = parse_flat_keyed(self._read(f"{path}/cpu.stat")).get("usage_usec")
        except OSError:
            return None  # gone between the walk and the read
        memory = self._optional(f"{path}/memory.current", parse_single)
        return Reading(path, workload, (cpu or 0) / 1e6, memory)

    def _top(self, readings: list[Reading], previous: dict[str, dict[str, float]]) -> set[str]:
        def cpu_delta(r: Reading) -> float:
            if not previous:  # the first scan: CPU time since each workload started
                return r.cpu_s
            before = previous.get(r.path, {}).get(CPU)
            return r.cpu_s - before if before is not None else 0.0

        by_cpu = sorted(readings, key=cpu_delta, reverse=True)[: self._top_n]
        by_memory = sorted(readings, key=lambda r: r.memory or 0, reverse=True)[: self._top_n]
        return {r.path for r in (*by_cpu, *by_memory)}

    def _details(
        self, reading: Reading, *, full: bool
    ) -> tuple[dict[str, float], dict[str, float]]:
        """Counters and gauges of one workload; the cheap ones only unless ``full``."""
        counters: dict[str, float] = {CPU: reading.cpu_s}
        gauges: dict[str, float] = {}
        path = reading.path
        if reading.memory is not None:
            gauges[MEMORY] = reading.memory
            stat = self._optional(f"{path}/memory.stat", parse_flat_keyed) if full else None
            if stat is not None:
                gauges[WORKING_SET] = working_set(reading.memory, stat)
        io = self._optional(f"{path}/io.stat", parse_io_stat)
        if io is not None:
            counters[READS], counters[WRITES] = io
        if not full:
            return counters, gauges
        events = self._optional(f"{path}/memory.events", parse_flat_keyed)
        if events is not None:
            counters[OOM] = events.get("oom_kill", 0)
        for resource, metric in PRESSURE.items():
            totals = self._optional(f"{path}/{resource}.pressure", parse_pressure)
            if totals is not None and "some" in totals:
                counters[metric] = totals["some"] / 1e6
        return counters, gauges

    def _optional(self, path: str, parse: Callable[[str], T]) -> T | None:
        """A file a controller may not provide (no memory or io controller enabled)."""
        try:
            return parse(self._read(path))
        except OSError:
            return None

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
