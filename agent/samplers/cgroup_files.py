"""What a cgroup directory says about itself, and what it is: pure parses of its files (of
cgroup v2 and of the v1 controllers) and of its path.

A path, the same below the v2 root as below each v1 controller's, names a systemd service
(``system.slice/nginx.service``) or a container of Docker (``docker-<id>.scope``, or
``docker/<id>`` with the cgroupfs driver), Podman (``libpod-<id>.scope``, ``libpod-<id>`` with
cgroupfs), containerd (``cri-containerd-<id>.scope``) or CRI-O (``crio-<id>.scope``); a
Kubernetes pod's containers sit under a ``kubepods`` slice (``kubepods/<qos>/pod<uid>/<id>``
with cgroupfs) and are named for their runtime. Anything else (slices, ``init.scope``, session
scopes) is walked through, not reported.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Final, Literal

Kind = Literal["service", "container"]

_ID: Final = r"(?P<id>[0-9a-f]{64})"
# The systemd driver's scopes; the cgroupfs driver names the same directories without ".scope".
_SCOPES: Final = (
    (re.compile(rf"^docker-{_ID}(?:\.scope)?$"), "docker"),
    (re.compile(rf"^libpod-{_ID}(?:\.scope)?$"), "podman"),
    (re.compile(rf"^cri-containerd-{_ID}(?:\.scope)?$"), "containerd"),
    (re.compile(rf"^crio-{_ID}(?:\.scope)?$"), "cri-o"),
)
_BARE_ID: Final = re.compile(rf"^{_ID}$")
# cgroupfs driver parents: /docker/<id>, /kubepods/<qos>/pod<uid>/<id>, /libpod_parent/...
_BARE_PARENTS: Final = {"docker": "docker", "libpod_parent": "podman"}


@dataclass(frozen=True, slots=True)
class Workload:
    """A cgroup worth reporting: its kind, runtime and the id or unit name it was found by."""

    kind: Kind
    runtime: str
    ident: str

    @property
    def short(self) -> str:
        """The name shown until a runtime names it: a unit's name, a container's short id."""
        return self.ident[:12] if self.kind == "container" else self.ident


@functools.lru_cache(maxsize=8192)
def classify(relative: str) -> Workload | None:
    """What the cgroup at ``relative`` (to the cgroup root, ``/``-separated) is, if anything
    to report.

    >>> classify("system.slice/nginx.service")
    Workload(kind='service', runtime='systemd', ident='nginx.service')
    >>> classify("user.slice") is None
    True

    Every scan asks again for every directory of the tree, so answers are kept (they depend
    on the path alone).
    """
    parts = relative.strip("/").split("/")
    last = parts[-1]
    for pattern, runtime in _SCOPES:
        if match := pattern.match(last):
            if "kubepods" in relative and runtime in ("containerd", "cri-o"):
                runtime = f"kubernetes/{runtime}"
            return Workload("container", runtime, match["id"])
    if match := _BARE_ID.match(last):
        parent = parts[-2] if len(parts) > 1 else ""
        if parent in _BARE_PARENTS:
            return Workload("container", _BARE_PARENTS[parent], match["id"])
        if parts[0] == "kubepods":
            return Workload("container", "kubernetes", match["id"])
        return None
    if last.endswith(".service"):
        return Workload("service", "systemd", last)
    return None


def parse_flat_keyed(text: str) -> dict[str, int]:
    """``key value`` lines (``cpu.stat``, ``memory.stat``, ``memory.events``, v1's
    ``memory.oom_control``) to integers;
    lines that are not a key and a whole number are skipped.

    >>> parse_flat_keyed("usage_usec 120\\nuser_usec 100\\nbogus\\n")
    {'usage_usec': 120, 'user_usec': 100}
    """
    values: dict[str, int] = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if value.strip().isdigit():
            values[key] = int(value)
    return values


def parse_single(text: str) -> int | None:
    """A one-number file (``memory.current``, v1's ``cpuacct.usage`` and
    ``memory.usage_in_bytes``); ``max`` or garbage is None."""
    value = text.strip()
    return int(value) if value.isdigit() else None


def parse_io_stat(text: str) -> tuple[int, int]:
    """Bytes read and written, summed over the devices of ``io.stat``.

    >>> parse_io_stat("8:0 rbytes=4096 wbytes=8192 rios=1 wios=2\\n259:0 rbytes=1 wbytes=0\\n")
    (4097, 8192)
    """
    read = written = 0
    for line in text.splitlines():
        for item in line.split()[1:]:
            key, _, value = item.partition("=")
            if not value.isdigit():
                continue
            if key == "rbytes":
                read += int(value)
            elif key == "wbytes":
                written += int(value)
    return read, written


def parse_blkio(text: str) -> tuple[int, int]:
    """Bytes read and written, summed over the devices of a v1 ``blkio`` file
    (``blkio.throttle.io_service_bytes`` and its ``_recursive`` kin); the ``Sync``, ``Async``,
    ``Discard`` and ``Total`` lines are not added again.

    >>> parse_blkio("8:0 Read 4096\\n8:0 Write 8\\n8:0 Total 4104\\n8:16 Read 1\\nTotal 4105\\n")
    (4097, 8)
    """
    read = written = 0
    for line in text.splitlines():
        fields = line.split()
        if len(fields) != 3 or not fields[2].isdigit():
            continue
        if fields[1] == "Read":
            read += int(fields[2])
        elif fields[1] == "Write":
            written += int(fields[2])
    return read, written


def working_set(usage: int, stat: dict[str, int], inactive: str = "inactive_file") -> int:
    """Memory in use less what the kernel could drop at once (inactive file pages), as
    cAdvisor computes ``container_memory_working_set_bytes``: ``inactive_file`` of v2's
    ``memory.stat``, ``total_inactive_file`` (the hierarchical count) of v1's."""
    return max(0, usage - stat.get(inactive, 0))
