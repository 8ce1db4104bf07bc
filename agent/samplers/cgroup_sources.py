"""The services and containers of a cgroup tree and what their files say: cgroup v2's one
tree, or the v1 controllers' trees.

A source lists its workloads by their path relative to the hierarchy's root (the same path
below every v1 controller), ranks each by the two files read on every scan (CPU and memory),
and reads the rest of a workload's files on request. A read that fails with any ``OSError``
(``ENOENT``, ``ENODEV`` or ``ESRCH`` from a cgroup removed since it was listed) leaves that
value out; a workload none of whose ranking files could be read is gone.

What v1 offers under the same names as v2: CPU from ``cpuacct.usage``, memory from
``memory.usage_in_bytes``, the working set less ``memory.stat``'s ``total_inactive_file``,
I/O from ``blkio``, and OOM kills from ``memory.oom_control``'s ``oom_kill`` line (kernel 4.13
and later; ``memory.failcnt`` counts hits of the limit, not kills, and is not used). v1 has no
pressure (PSI) of its own: on a hybrid host it is read from the unified tree where the
workload is there too, and is left out otherwise. A hybrid host's workload in the unified tree
alone (no v1 accounting) reports its CPU from there, with its pressure.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol, TypeVar

from hostvitals.agent.samplers.cgroup_files import (
    Workload,
    classify,
    parse_blkio,
    parse_flat_keyed,
    parse_io_stat,
    parse_single,
    working_set,
)
from hostvitals.agent.samplers.pressure import parse_pressure

T = TypeVar("T")
Reader = Callable[[str], str]
Values = dict[str, float]

MAX_GROUPS = 4000
"""Most cgroup directories one walk looks at."""
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
BLKIO_FILES = (
    "blkio.throttle.io_service_bytes_recursive",
    "blkio.throttle.io_service_bytes",
    "blkio.io_service_bytes_recursive",
)
"""v1 I/O files, by preference: the throttle layer sees every request whatever the I/O
scheduler (the recursive file, kernel 4.16 and later, also counts a workload's children)."""


def walk(root: str | Path, max_groups: int = MAX_GROUPS) -> Iterator[tuple[str, Workload]]:
    """The workloads below ``root``, by path relative to it; a workload's own children are
    not walked (its files already count them, the counters being hierarchical).

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
                yield child, found
            elif depth + 1 < MAX_DEPTH:
                stack.append((f"{directory}/{name}", child, depth + 1))


def optional(read: Reader, path: str, parse: Callable[[str], T]) -> T | None:
    """A file's parse, or None where the file is not there (no such controller, a kernel
    without the feature, a cgroup removed since it was listed)."""
    try:
        return parse(read(path))
    except OSError:
        return None


def pressure(read: Reader, base: str, counters: Values) -> None:
    """PSI ``some`` of a v2 directory into ``counters``; nothing where PSI is missing."""
    for resource, metric in PRESSURE.items():
        totals = optional(read, f"{base}/{resource}.pressure", parse_pressure)
        if totals is not None and "some" in totals:
            counters[metric] = totals["some"] / 1e6


class Source(Protocol):
    version: str

    def workloads(self) -> Iterator[tuple[str, Workload]]: ...

    def rank(self, key: str, *, memory: bool = True) -> tuple[float | None, int | None] | None:
        """CPU seconds and memory bytes, either None if not offered; None if gone. Without
        ``memory``, memory is not read (None) where CPU is offered."""

    def read_memory(self, key: str) -> int | None:
        """Memory bytes alone; None if not offered or gone."""

    def details(self, key: str, memory: int | None, *, full: bool) -> tuple[Values, Values]:
        """Counters and gauges other than CPU; the cheap ones only unless ``full``."""


class UnifiedTree:
    """cgroup v2: ``cpu.stat``, ``memory.current``, ``memory.stat``, ``io.stat``,
    ``memory.events`` and the ``*.pressure`` files of each workload's directory."""

    version = "v2"

    def __init__(self, root: Path, read: Reader) -> None:
        self.root = str(root)
        self._read = read

    def workloads(self) -> Iterator[tuple[str, Workload]]:
        return walk(self.root)

    def rank(self, key: str, *, memory: bool = True) -> tuple[float | None, int | None] | None:
        base = f"{self.root}/{key}"
        try:
            cpu = parse_flat_keyed(self._read(f"{base}/cpu.stat")).get("usage_usec")
        except OSError:
            return None  # gone between the walk and the read
        return (cpu or 0) / 1e6, self.read_memory(key) if memory else None

    def read_memory(self, key: str) -> int | None:
        return optional(self._read, f"{self.root}/{key}/memory.current", parse_single)

    def details(self, key: str, memory: int | None, *, full: bool) -> tuple[Values, Values]:
        base, read = f"{self.root}/{key}", self._read
        counters: Values = {}
        gauges: Values = {}
        if memory is not None:
            gauges[MEMORY] = memory
            stat = optional(read, f"{base}/memory.stat", parse_flat_keyed) if full else None
            if stat is not None:
                gauges[WORKING_SET] = working_set(memory, stat)
        io = optional(read, f"{base}/io.stat", parse_io_stat)
        if io is not None:
            counters[READS], counters[WRITES] = io
        if full:
            events = optional(read, f"{base}/memory.events", parse_flat_keyed)
            if events is not None:
                counters[OOM] = events.get("oom_kill", 0)
            pressure(read, base, counters)
        return counters, gauges


class ControllerTrees:
    """cgroup v1: a workload is the same path below the ``cpuacct``, ``memory`` and
    ``blkio`` roots (any may be missing, and a workload may be in some only: systemd makes a
    service's v1 cgroups only for the accounting it has on). ``unified`` is a hybrid host's
    v2 tree, read for pressure; a workload found there and in neither ``cpuacct`` nor
    ``memory`` (a service without CPU or memory accounting) takes its CPU from the unified
    tree's ``cpu.stat``, which the kernel keeps whatever controllers are bound. The v1
    trees come first, so a workload with v1 accounting never takes its CPU from there."""

    version = "v1"

    def __init__(
        self,
        read: Reader,
        cpuacct: Path | None = None,
        memory: Path | None = None,
        blkio: Path | None = None,
        unified: Path | None = None,
    ) -> None:
        self.cpuacct, self.memory, self.blkio, self.unified = (
            None if path is None else str(path) for path in (cpuacct, memory, blkio, unified)
        )
        self._read = read
        self._blkio_file: str | None = None  # the first of BLKIO_FILES this kernel has
        self._unified_only: set[str] = set()  # workloads of the last walk in `unified` only

    def workloads(self) -> Iterator[tuple[str, Workload]]:
        seen: set[str] = set()
        # Filled as the walk goes: a workload is ranked as soon as it is listed.
        self._unified_only = unified_only = set()
        for root in (self.cpuacct, self.memory, self.unified):
            if root is None:
                continue
            for key, workload in walk(root):
                if key not in seen:
                    seen.add(key)
                    if root is self.unified:
                        unified_only.add(key)
                    yield key, workload

    def rank(self, key: str, *, memory: bool = True) -> tuple[float | None, int | None] | None:
        if key in self._unified_only:
            try:
                stat = parse_flat_keyed(self._read(f"{self.unified}/{key}/cpu.stat"))
            except OSError:
                return None  # gone between the walk and the read
            return stat.get("usage_usec", 0) / 1e6, None
        cpu: int | None = None
        used: int | None = None
        found = False
        if self.cpuacct is not None:
            try:
                cpu = parse_single(self._read(f"{self.cpuacct}/{key}/cpuacct.usage"))
                found = True
            except OSError:
                pass
        if self.memory is not None and (memory or not found):
            try:
                used = parse_single(self._read(f"{self.memory}/{key}/memory.usage_in_bytes"))
                found = True
            except OSError:
                pass
        if not found:
            return None  # gone between the walk and the reads
        return (None if cpu is None else cpu / 1e9), used

    def read_memory(self, key: str) -> int | None:
        if self.memory is None:
            return None
        path = f"{self.memory}/{key}/memory.usage_in_bytes"
        return optional(self._read, path, parse_single)

    def details(self, key: str, memory: int | None, *, full: bool) -> tuple[Values, Values]:
        read = self._read
        counters: Values = {}
        gauges: Values = {}
        if memory is not None:
            gauges[MEMORY] = memory
        if self.blkio is not None:
            io = self._io(f"{self.blkio}/{key}")
            if io is not None:
                counters[READS], counters[WRITES] = io
        if not full:
            return counters, gauges
        if self.memory is not None:
            base = f"{self.memory}/{key}"
            stat = optional(read, f"{base}/memory.stat", parse_flat_keyed)
            if memory is not None and stat is not None:
                gauges[WORKING_SET] = working_set(memory, stat, "total_inactive_file")
            control = optional(read, f"{base}/memory.oom_control", parse_flat_keyed)
            if control is not None and "oom_kill" in control:
                counters[OOM] = control["oom_kill"]
        if self.unified is not None:
            pressure(read, f"{self.unified}/{key}", counters)
        return counters, gauges

    def _io(self, base: str) -> tuple[int, int] | None:
        """Bytes read and written from one file name for every workload, so that a
        workload's counters never switch between files that count differently."""
        if self._blkio_file is not None:
            return optional(self._read, f"{base}/{self._blkio_file}", parse_blkio)
        for name in BLKIO_FILES:
            found = optional(self._read, f"{base}/{name}", parse_blkio)
            if found is not None:
                self._blkio_file = name
                return found
        return None
