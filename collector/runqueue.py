"""How long a thread has been runnable with no core free: the second field of its
``/proc/thread-self/schedstat``, read without giving up the interpreter lock. The stall
watch (:mod:`.stallwatch`) uses it to tell a stall spent waiting for a core from one spent
waiting for the lock."""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, cast

SCHEDSTAT: Final = Path("/proc/thread-self/schedstat")
_SCHEDSTAT_BYTES: Final = 128


def _libc_pread() -> Callable[[int, Any, int, int], int] | None:
    """``pread(2)`` called with the interpreter lock held (a ``ctypes.PyDLL`` function), or
    None where there is no C library to call.

    ``os.pread`` releases the interpreter lock for the call, like every system call Python
    makes, and the loop's thread must then get it back from whichever thread took it
    meanwhile: up to a switch interval (5 ms) for each thread running Python code, for a read
    of a few microseconds. Twice a tick, that made the stall watch a cause of the stalls it
    reports. Reading a /proc file never blocks, so holding the lock across it costs nothing.
    """
    try:
        pread = ctypes.PyDLL(None, use_errno=True).pread
    except (AttributeError, OSError):
        return None
    pread.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_long]
    pread.restype = ctypes.c_ssize_t
    return cast(Callable[[int, Any, int, int], int], pread)


class RunqueueClock:
    """A clock of one thread's seconds spent runnable, waiting for a core (the second field of
    its ``schedstat``); always 0 where the kernel does not say (not Linux, no schedstats).

    The file is opened once (``/proc/thread-self`` is the thread that opens it) and each
    reading is one ``pread`` that keeps the interpreter lock: see :func:`_libc_pread`."""

    def __init__(self, path: Path = SCHEDSTAT) -> None:
        self._pread = _libc_pread()
        self._buf = ctypes.create_string_buffer(_SCHEDSTAT_BYTES)
        try:
            self._fd: int | None = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            self._fd = None

    def __call__(self) -> float:
        fd = self._fd
        if fd is None:
            return 0.0
        try:
            if self._pread is None:
                data = os.pread(fd, _SCHEDSTAT_BYTES, 0)
            else:
                size = self._pread(fd, self._buf, _SCHEDSTAT_BYTES, 0)
                data = self._buf.raw[: max(size, 0)]
            return int(data.split()[1]) / 1e9
        except (OSError, IndexError, ValueError):
            return 0.0

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


def runqueue_clock(path: Path = SCHEDSTAT) -> RunqueueClock:
    """The calling thread's :class:`RunqueueClock` (or that of the thread ``path`` names)."""
    return RunqueueClock(path)
