"""Small kernel files read on every scan, kept open between scans.

Opening a file in procfs, sysfs or cgroupfs costs a path lookup that, for a file of a few
hundred bytes, is about half the cost of reading it. A kept file is read again with
``os.pread`` at offset 0, which makes the kernel generate it afresh. A file whose object is
gone (a removed cgroup answers ENODEV, an exited process ESRCH) is closed and opened again by
path, which then fails as a missing file would or finds the new object of that name.
"""

from __future__ import annotations

import contextlib
import os
import resource

from hostvitals.agent.samplers.paths import read_small

CHUNK = 4096
"""One ``pread`` of this many bytes; a file that fills it is read to its end by path."""
_OPEN_FLAGS = os.O_RDONLY | os.O_CLOEXEC


def share_of_open_files(share: float, most: int) -> int:
    """``share`` of the soft limit on open files, at most ``most``."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return most
    return max(0, min(int(soft * share), most))


class KeptFiles:
    """Read small files by path, keeping at most ``max_open`` of them open. One caller at a
    time."""

    def __init__(self, max_open: int) -> None:
        self._max_open = max_open
        self._fds: dict[str, int] = {}
        self._used: set[str] = set()

    @property
    def open_files(self) -> int:
        return len(self._fds)

    def read(self, path: str) -> str:
        """The file's text; OSError as ``open`` or ``read`` raises it."""
        fd = self._fds.get(path)
        self._used.add(path)
        if fd is not None:
            try:
                data = os.pread(fd, CHUNK, 0)
            except OSError:
                self._close(path)
            else:
                if len(data) < CHUNK:
                    return data.decode("utf-8", "replace")
                return read_small(path)
        fd = os.open(path, _OPEN_FLAGS)
        try:
            data = os.pread(fd, CHUNK, 0)
        except BaseException:
            os.close(fd)
            raise
        if len(self._fds) < self._max_open:
            self._fds[path] = fd
        else:
            os.close(fd)
        if len(data) < CHUNK:
            return data.decode("utf-8", "replace")
        return read_small(path)

    def sweep(self) -> None:
        """Close the files not read since the previous sweep (a removed cgroup's, or one
        read only now and then)."""
        for path in [p for p in self._fds if p not in self._used]:
            self._close(path)
        self._used = set()

    def close(self) -> None:
        for path in list(self._fds):
            self._close(path)

    def __del__(self) -> None:  # a sampler dropped by a reload closes its files
        self.close()

    def _close(self, path: str) -> None:
        fd = self._fds.pop(path)
        with contextlib.suppress(OSError):
            os.close(fd)
