"""Where the host's ``/proc``, ``/sys`` and ``/`` are mounted for the agent.

On a host they are where they always are. In a container that should see its host they are
the host's, mounted read-only somewhere else (``--path.procfs=/host/proc``, as node_exporter
has it); the samplers that read files build their paths through ``HostPaths``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PROCFS = Path("/proc")
DEFAULT_SYSFS = Path("/sys")
DEFAULT_ROOTFS = Path("/")


def read_small(path: str | Path) -> str:
    """The text of a small procfs or sysfs file, read with plain ``os.read`` calls (about
    half the interpreter time of ``Path.read_text`` for files a sampler reads every tick)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks).decode("utf-8", "replace")


def _under(base: Path, parts: tuple[str, ...]) -> Path:
    """``parts`` joined below ``base``, even where a part is absolute (``/etc/os-release``)."""
    return base.joinpath(*(part.lstrip("/") for part in parts))


@dataclass(frozen=True, slots=True)
class HostPaths:
    procfs: Path = DEFAULT_PROCFS
    sysfs: Path = DEFAULT_SYSFS
    rootfs: Path = DEFAULT_ROOTFS

    def proc(self, *parts: str) -> Path:
        return _under(self.procfs, parts)

    def sys(self, *parts: str) -> Path:
        return _under(self.sysfs, parts)

    def root(self, *parts: str) -> Path:
        return _under(self.rootfs, parts)

    def root_file(self, path: str) -> Path:
        """A file of the root file system, following a symbolic link with an absolute target
        (``/etc/os-release -> /usr/lib/os-release``) inside the root rather than out of it.
        """
        target = self.root(path)
        for _ in range(8):  # a bounded walk: a link loop ends in the read's own error
            try:
                link = os.readlink(target)
            except OSError:
                return target
            target = self.root(link) if os.path.isabs(link) else target.parent / link
        return target
