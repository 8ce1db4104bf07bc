"""The top processes by CPU and by resident memory (``hostvitals_process_*``).

Scans are incremental: the process table (``hostvitals.agent.samplers.proctable``, like
psutil's ``process_iter``) keeps one object per live process, so ``cpu_percent()`` measures
the CPU used since the previous scan without sleeping.
A process seen for the first time has no CPU figure yet and is ranked by memory only. Names
and users are read only for the winners.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import psutil

from hostvitals.agent.samplers.base import Row, labels
from hostvitals.agent.samplers.proctable import ProcTable, StatProcess

DEFAULT_TOP_N = 10
UNKNOWN = "?"
MAX_NAME_LENGTH = 128
"""Longer process names (psutil may take them from the command line) are cut to this."""


@dataclass(frozen=True, slots=True)
class ProcessSample:
    pid: int
    cpu_ratio: float | None
    """CPU since the previous scan as a share of one core; None on first sight or unreadable."""
    rss: int | None
    handle: Any = None
    """The psutil.Process, to read name and user later for the winners."""


def top_processes(samples: Sequence[ProcessSample], n: int) -> list[ProcessSample]:
    """The union of the ``n`` busiest by CPU and the ``n`` largest by RSS, CPU ones first.

    Processes that used no CPU are not ranked by CPU (on a quiet host the CPU list is then
    shorter than ``n``). Ties go to the lower pid, so the choice is deterministic.
    """
    by_cpu = sorted(
        (s for s in samples if s.cpu_ratio),  # idle processes are not "top" by CPU
        key=lambda s: (-(s.cpu_ratio or 0.0), s.pid),
    )[:n]
    by_rss = sorted(
        (s for s in samples if s.rss is not None), key=lambda s: (-(s.rss or 0), s.pid)
    )[:n]
    chosen: dict[int, ProcessSample] = {}
    for sample in (*by_cpu, *by_rss):
        chosen.setdefault(sample.pid, sample)
    return list(chosen.values())


def rows_for_process(sample: ProcessSample, name: str, user: str) -> list[Row]:
    proc_labels = labels(
        pid=str(sample.pid), name=(name or UNKNOWN)[:MAX_NAME_LENGTH], user=user or UNKNOWN
    )
    rows: list[Row] = []
    if sample.cpu_ratio is not None:
        rows.append(("hostvitals_process_cpu_usage_ratio", proc_labels, sample.cpu_ratio))
    if sample.rss is not None:
        rows.append(("hostvitals_process_resident_memory_bytes", proc_labels, sample.rss))
    return rows


def _read(read: Callable[..., Any], *args: Any) -> Any:
    """A field of a live process, or None if the agent may not read it."""
    try:
        return read(*args)
    except psutil.AccessDenied:
        return None


class ProcessesSampler:
    name = "processes"

    def __init__(
        self,
        *,
        top_n: int = DEFAULT_TOP_N,
        process_iter: Callable[[], Iterable[Any]] | None = None,
        cpus: int | None = None,
    ) -> None:
        self._top_n = top_n
        self._process_iter = ProcTable() if process_iter is None else process_iter
        # CPU time is counted in clock ticks (10 ms): over a short wait between two scans one
        # tick more or less can make a process seem to use more than every core. No process
        # can, so the ratio is capped at the host's CPU count, as top caps its percentages.
        self._cpus = float(cpus or psutil.cpu_count() or 1)
        self._previous: dict[int, Any] = {}

    def scan(self) -> list[ProcessSample]:
        """CPU and RSS of every process; vanished processes are left out."""
        previous = self._previous
        current: dict[int, Any] = {}
        samples: list[ProcessSample] = []
        cpus = self._cpus
        rss: int | None
        for proc in self._process_iter():
            if type(proc) is StatProcess:  # its figures are read already: no calls can fail
                pid, cpu, rss = proc.pid, proc.cpu_percent(), proc.rss
            else:
                try:
                    with proc.oneshot():
                        cpu = _read(proc.cpu_percent, None)
                        memory = _read(proc.memory_info)
                except psutil.NoSuchProcess:  # includes ZombieProcess
                    continue
                pid = int(proc.pid)
                rss = int(memory.rss) if memory is not None else None
            current[pid] = proc
            # psutil answers 0.0 on the first call for a Process object: not a measurement.
            cpu_ratio = None
            if cpu is not None and cpu >= 0 and previous.get(pid) is proc:
                cpu_ratio = min(cpu / 100.0, cpus)
            samples.append(ProcessSample(pid, cpu_ratio, rss, proc))
        self._previous = current
        return samples

    def collect(self) -> list[Row]:
        rows: list[Row] = []
        for sample in top_processes(self.scan(), self._top_n):
            proc = sample.handle
            try:
                name = _read(proc.name)
                user = _read(proc.username)
            except psutil.NoSuchProcess:
                continue
            rows.extend(rows_for_process(sample, name or UNKNOWN, user or UNKNOWN))
        return rows
