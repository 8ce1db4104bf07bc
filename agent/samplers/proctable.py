"""The process table the processes sampler scans: one read of ``/proc/<pid>/stat`` each.

psutil's ``process_iter`` with ``cpu_percent`` and ``memory_info`` reads two files per process
through several layers of Python, about 0.1 ms per process: at 170 processes a scan every 5 s
was most of the agent's CPU. This table reads ``stat`` alone (CPU ticks, start time, resident
pages) with ``os.read`` and answers the calls the sampler makes the way ``psutil.Process``
does: ``cpu_percent(None)`` since the previous scan, 0.0 the first time; ``memory_info().rss``;
and, asked only for the winners, ``name()`` and ``username()`` through psutil itself.

A process is known by its pid and start time, so a reused pid is a new process. Zombies,
processes that vanish while being read and those whose ``stat`` may not be read are left out
(psutil would give no figures for them either). The table reads the procfs psutil is pointed
at (``psutil.PROCFS_PATH``, set from the ``procfs`` path setting).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from typing import NamedTuple

import psutil

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


class Memory(NamedTuple):
    rss: int


class StatProcess:
    """One process of the table, as the sampler sees it (a small part of ``psutil.Process``)."""

    __slots__ = ("_at", "_handle", "_last", "_rss", "_ticks", "pid", "start")

    def __init__(self, pid: int, start: int) -> None:
        self.pid = pid
        self.start = start
        self._ticks = 0
        self._at = 0.0
        self._rss = 0
        self._last: tuple[int, float] | None = None
        self._handle: psutil.Process | None = None

    def update(self, ticks: int, rss_pages: int, at: float, *, first: bool) -> None:
        if not first:
            self._last = (self._ticks, self._at)
        self._ticks, self._at, self._rss = ticks, at, rss_pages * PAGE_SIZE

    @contextlib.contextmanager
    def oneshot(self) -> Iterator[None]:
        yield

    def cpu_percent(self, interval: float | None = None) -> float:
        """% of one core since the previous scan, rounded as psutil rounds it; 0.0 at first."""
        if self._last is None:
            return 0.0
        ticks, at = self._last
        elapsed = self._at - at
        if elapsed <= 0:
            return 0.0
        return round((self._ticks - ticks) / CLOCK_TICKS / elapsed * 100, 1)

    def memory_info(self) -> Memory:
        return Memory(self._rss)

    def name(self) -> str:
        return str(self._psutil().name())

    def username(self) -> str:
        return str(self._psutil().username())

    def _psutil(self) -> psutil.Process:
        if self._handle is None:
            self._handle = psutil.Process(self.pid)
        return self._handle


class ProcTable:
    """Call it for the live processes, in pid order; the same object for the same process."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._known: dict[int, StatProcess] = {}

    def __call__(self) -> list[StatProcess]:
        procfs = psutil.PROCFS_PATH
        known, current = self._known, {}
        clock = self._clock
        pids = sorted(int(name) for name in os.listdir(procfs) if name.isdigit())
        for pid in pids:
            try:
                fd = os.open(f"{procfs}/{pid}/stat", os.O_RDONLY | os.O_CLOEXEC)
                try:
                    data = os.read(fd, 4096)
                finally:
                    os.close(fd)
            except OSError:  # gone, or not ours to read
                continue
            at = clock()
            fields = data[data.rfind(b")") + 2 :].split()
            if len(fields) < 22 or fields[0] == b"Z":
                continue
            start = int(fields[19])
            proc = known.get(pid)
            first = proc is None or proc.start != start  # new, or its pid was reused
            if first:
                proc = StatProcess(pid, start)
            assert proc is not None
            proc.update(int(fields[11]) + int(fields[12]), int(fields[21]), at, first=first)
            current[pid] = proc
        self._known = current
        return list(current.values())
