"""Where a host's cgroup hierarchies are: the v2 (unified) tree and the v1 controllers.

Three layouts are common. A cgroup v2 host mounts one ``cgroup2`` tree at ``/sys/fs/cgroup``
holding every controller. A v1-only (legacy) host mounts one ``cgroup`` tree per controller
(``/sys/fs/cgroup/memory``, ``/sys/fs/cgroup/cpu,cpuacct`` with ``cpu`` and ``cpuacct``
links to it, ...). A hybrid host, systemd's middle mode, has the v1 controllers and also a
``cgroup2`` tree at ``/sys/fs/cgroup/unified`` for systemd's own process tracking; a
controller can be bound to one hierarchy only, so that tree has none of the ones held by v1.

The layout comes from ``<procfs>/self/mountinfo``: a mount's file system type says its
version and a v1 mount's options name its controllers. Mount points are in the agent's own
view: those below ``path_sysfs`` are taken as they are, and ``/sys/...`` ones are looked for
below ``path_sysfs`` when it is elsewhere (a container given the host's ``/sys`` at
``/host/sys``). Where mountinfo is unreadable or names no hierarchy that is there, the usual
places below ``<sysfs>/fs/cgroup`` are looked at instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from hostvitals.agent.samplers.paths import HostPaths, read_small

CONTROLLERS = ("cpuacct", "memory", "blkio")
"""The v1 controllers the services-and-containers sampler reads."""
_ESCAPE = re.compile(r"\\([0-7]{3})")


@dataclass(frozen=True, slots=True)
class CgroupMount:
    """One ``cgroup`` (v1) or ``cgroup2`` mount of mountinfo."""

    point: str
    version: int
    options: frozenset[str] = frozenset()
    """A v1 mount's super options, its controllers among them (``cpu``, ``cpuacct``)."""


@dataclass(frozen=True, slots=True)
class Layout:
    """The hierarchies found: the unified tree, and the root of each v1 controller."""

    unified: Path | None = None
    controllers: Mapping[str, Path] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return self.unified is not None or bool(self.controllers)

    def describe(self) -> str:
        parts = [f"{name} at {path}" for name, path in sorted(self.controllers.items())]
        if self.unified is not None:
            parts.append(f"cgroup2 at {self.unified}")
        return ", ".join(parts) or "no cgroup hierarchy"


def parse_mountinfo(text: str) -> list[CgroupMount]:
    """The cgroup mounts of a ``/proc/<pid>/mountinfo``, in its order.

    >>> v1, v2 = parse_mountinfo(
    ...     "35 25 0:30 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup "
    ...     "rw,cpu,cpuacct\\n36 25 0:31 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\\n"
    ... )
    >>> v1.point, v1.version, sorted(v1.options)
    ('/sys/fs/cgroup/cpu,cpuacct', 1, ['cpu', 'cpuacct', 'rw'])
    >>> v2
    CgroupMount(point='/sys/fs/cgroup/unified', version=2, options=frozenset())
    """
    mounts: list[CgroupMount] = []
    for line in text.splitlines():
        before, separator, after = line.partition(" - ")
        fields, rest = before.split(), after.split()
        if not separator or len(fields) < 5 or not rest:
            continue
        point = _ESCAPE.sub(lambda m: chr(int(m[1], 8)), fields[4])
        if rest[0] == "cgroup2":
            mounts.append(CgroupMount(point, 2))
        elif rest[0] == "cgroup":
            options = frozenset(rest[2].split(",")) if len(rest) > 2 else frozenset()
            mounts.append(CgroupMount(point, 1, options))
    return mounts


def _located(point: str, paths: HostPaths) -> tuple[int, Path] | None:
    """Where a mount point is read from, ranked: 0 below ``path_sysfs``, 1 re-rooted there."""
    where, sysfs, default = PurePosixPath(point), PurePosixPath(paths.sysfs), PurePosixPath("/sys")
    if where.is_relative_to(sysfs):
        return 0, Path(where)
    if sysfs != default and where.is_relative_to(default):
        return 1, paths.sysfs / where.relative_to(default)
    if sysfs == default:
        return 0, Path(where)  # mounted outside /sys (an old distribution's /cgroup)
    return None


def layout_from_mounts(mounts: list[CgroupMount], paths: HostPaths) -> Layout:
    """The hierarchies of ``mounts`` that are there to read."""
    unified: list[tuple[int, Path]] = []
    controllers: dict[str, list[tuple[int, Path]]] = {}
    for mount in mounts:
        found = _located(mount.point, paths)
        if found is None:
            continue
        where = found[1]
        if mount.version == 2 and (where / "cgroup.controllers").is_file():
            unified.append(found)
        elif mount.version == 1 and where.is_dir():
            for name in CONTROLLERS:
                if name in mount.options:
                    controllers.setdefault(name, []).append(found)
    return Layout(
        unified=_first(unified),
        controllers={name: root for name, found in controllers.items() if (root := _first(found))},
    )


def _first(found: list[tuple[int, Path]]) -> Path | None:
    """The best ranked of the places found, the first in mountinfo's order among equals."""
    return min(found, key=lambda each: each[0])[1] if found else None


_V1_FILES = {
    "cpuacct": "cpuacct.usage",
    "memory": "memory.usage_in_bytes",
    "blkio": "blkio.reset_stats",
}


def layout_from_places(paths: HostPaths) -> Layout:
    """The hierarchies at their usual places below ``<sysfs>/fs/cgroup``."""
    base = paths.sys("fs", "cgroup")
    unified = next(
        (p for p in (base, base / "unified") if (p / "cgroup.controllers").is_file()), None
    )
    controllers = {
        name: base / name for name, marker in _V1_FILES.items() if (base / name / marker).exists()
    }
    return Layout(unified=unified, controllers=controllers)


def find_layout(paths: HostPaths) -> Layout:
    """The host's cgroup hierarchies: from mountinfo, else from their usual places."""
    try:
        mounts = parse_mountinfo(read_small(paths.proc("self", "mountinfo")))
    except OSError:
        mounts = []
    return layout_from_mounts(mounts, paths) or layout_from_places(paths)
