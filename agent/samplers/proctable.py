"""The process table the processes sampler scans: one read of ``/proc/<pid>/stat`` each.

psutil's ``process_iter`` with ``cpu_percent`` and ``memory_info`` reads two files per process
through several layers of Python, about 0.1 ms per process: at 170 processes a scan every 5 s
was most of the agent's CPU. This table reads ``stat`` alone (CPU ticks, start time, resident
pages) with ``os.read`` and answers the calls the sampler makes the way ``psutil.Process``
does: ``cpu_percent(None)`` since the previous scan, 0.0 the first time; ``memory_info().rss``;
and, asked only for the winners, ``name()`` and ``username()``. The name is the one in ``stat``
when it is shorter than the kernel's 15-character cut, else psutil's (which may take it from
the command line); the user is psutil's real uid, looked up once per uid and scan.

Each process's ``stat`` stays open between scans and is read again with ``os.pread`` at
offset 0 (procfs writes it afresh on every read): the path lookup of ``open`` was about half
of a scan's CPU time. An open ``stat`` of a process that has exited answers ESRCH, also when
its pid is reused, so the table opens the new process's file then. At most ``max_open``
files stay open (half the soft limit on open files, at most 4096); the processes beyond them
have their ``stat`` opened and closed on each scan, as before.

A process is known by its pid and start time, so a reused pid is a new process. Zombies,
processes that vanish while being read and those whose ``stat`` may not be read are left out
(psutil would give no figures for them either). The table reads the procfs psutil is pointed
at (``psutil.PROCFS_PATH``, set from the ``procfs`` path setting).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import resource
import time
from collections.abc import Callable
from typing import NamedTuple

import psutil

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
STAT_SIZE = 4096
"""Enough for any ``/proc/<pid>/stat`` (52 numbers and a name of at most 64 bytes)."""
_OPEN_FLAGS = os.O_RDONLY | os.O_CLOEXEC
_NO_CONTEXT = contextlib.nullcontext()


def default_max_open() -> int:
    """How many ``stat`` files the table keeps open: half the soft limit, at most 4096."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 4096
    return max(0, min(soft // 2, 4096))


NAME_CUT = 15
"""The kernel keeps the first 15 bytes of a process name; psutil looks longer ones up."""


class StatFields(NamedTuple):
    name: bytes
    state: bytes
    ticks: int
    """User plus system CPU time, in clock ticks."""
    start: int
    """Start time in clock ticks since boot."""
    rss_pages: int


def parse_stat(data: bytes) -> StatFields | None:
    """The fields the table uses from one ``/proc/<pid>/stat``, or None if it is cut short.

    The name (in parentheses) may hold spaces and parentheses, so the fields are counted from
    the last ``)``.

    >>> parse_stat(b"7 (a) b) S 1 1 1 0 -1 0 0 0 0 0 30 12 0 0 20 0 1 0 99 1000 25 0\\n")
    StatFields(name=b'a) b', state=b'S', ticks=42, start=99, rss_pages=25)
    """
    close = data.rfind(b")")
    fields = data[close + 2 :].split(None, 22)
    if len(fields) < 22:
        return None
    return StatFields(
        data[data.find(b"(") + 1 : close],
        fields[0],
        int(fields[11]) + int(fields[12]),
        int(fields[19]),
        int(fields[21]),
    )


class Memory(NamedTuple):
    rss: int


class StatProcess:
    """One process of the table, as the sampler sees it (a small part of ``psutil.Process``)."""

    __slots__ = (
        "_at",
        "_comm",
        "_handle",
        "_last",
        "_rss",
        "_ticks",
        "_users",
        "fd",
        "pid",
        "start",
    )

    def __init__(
        self, pid: int, start: int, fd: int = -1, users: dict[int, str] | None = None
    ) -> None:
        self.pid = pid
        self.start = start
        self.fd = fd
        """Its open ``stat``, or -1 when the table opens it on each scan."""
        self._comm = b""
        self._users = {} if users is None else users
        self._ticks = 0
        self._at = 0.0
        self._rss = 0
        self._last: tuple[int, float] | None = None
        self._handle: psutil.Process | None = None

    def update(
        self, ticks: int, rss_pages: int, at: float, *, first: bool, comm: bytes = b""
    ) -> None:
        self._comm = comm
        if not first:
            self._last = (self._ticks, self._at)
        self._ticks, self._at, self._rss = ticks, at, rss_pages * PAGE_SIZE

    def oneshot(self) -> contextlib.AbstractContextManager[None]:
        return _NO_CONTEXT

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

    @property
    def rss(self) -> int:
        """Resident memory in bytes, as ``memory_info().rss``."""
        return self._rss

    def name(self) -> str:
        """As psutil names it; from ``stat`` when the kernel did not cut the name."""
        if 0 < len(self._comm) < NAME_CUT:
            return os.fsdecode(self._comm)
        return str(self._psutil().name())

    def username(self) -> str:
        """As psutil's ``username()``: the real uid's user name, or the uid if it has none."""
        uid = int(self._psutil().uids().real)
        user = self._users.get(uid)
        if user is None:
            try:
                user = pwd.getpwuid(uid).pw_name
            except KeyError:
                user = str(uid)
            self._users[uid] = user
        return user

    def _psutil(self) -> psutil.Process:
        if self._handle is None:
            self._handle = psutil.Process(self.pid)
        return self._handle


class ProcTable:
    """Call it for the live processes, in pid order; the same object for the same process."""

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, max_open: int | None = None
    ) -> None:
        self._clock = clock
        self._known: dict[int, StatProcess] = {}
        self._max_open = default_max_open() if max_open is None else max_open
        self._open = 0
        self._users: dict[int, str] = {}
        """User names by uid, looked up again on every scan."""

    @property
    def open_files(self) -> int:
        return self._open

    def close(self) -> None:
        """Close the ``stat`` files kept open; the next call opens them again."""
        for proc in self._known.values():
            self._release(proc)
        self._known = {}

    def _release(self, proc: StatProcess) -> None:
        if proc.fd >= 0:
            with contextlib.suppress(OSError):
                os.close(proc.fd)
            proc.fd = -1
            self._open -= 1

    def _read_new(self, path: str) -> tuple[bytes, int] | None:
        """The ``stat`` at ``path`` and its file if it may stay open (else -1)."""
        try:
            fd = os.open(path, _OPEN_FLAGS)
        except OSError:  # gone, or not ours to read
            return None
        try:
            data = os.pread(fd, STAT_SIZE, 0)
        except OSError:
            os.close(fd)
            return None
        if self._open < self._max_open:
            self._open += 1
            return data, fd
        os.close(fd)
        return data, -1

    def __call__(self) -> list[StatProcess]:
        procfs = psutil.PROCFS_PATH
        known, current = self._known, {}
        clock = self._clock
        self._users.clear()
        pids = sorted(int(name) for name in os.listdir(procfs) if name.isdigit())
        for pid in pids:
            proc = known.pop(pid, None)
            data = b""
            fd = -1
            if proc is not None and proc.fd >= 0:
                try:
                    data = os.pread(proc.fd, STAT_SIZE, 0)
                except OSError:  # it exited (ESRCH); its pid may be in use again
                    data = b""
                if not data:
                    self._release(proc)
            if not data:
                read = self._read_new(f"{procfs}/{pid}/stat")
                if read is None:
                    if proc is not None:
                        self._release(proc)
                    continue
                data, fd = read
            at = clock()
            fields = parse_stat(data)
            if fields is None or fields.state == b"Z":
                if proc is not None:
                    self._release(proc)
                if fd >= 0:
                    os.close(fd)
                    self._open -= 1
                continue
            first = proc is None or proc.start != fields.start  # new, or its pid was reused
            if first:
                if proc is not None:
                    self._release(proc)
                proc = StatProcess(pid, fields.start, fd, self._users)
            elif fd >= 0:
                assert proc is not None
                proc.fd = fd
            assert proc is not None
            proc.update(fields.ticks, fields.rss_pages, at, first=first, comm=fields.name)
            current[pid] = proc
        for gone in known.values():  # not listed any more
            self._release(gone)
        self._known = current
        return list(current.values())
