"""A busy host for the footprint benchmark: extra processes and cgroups, removed afterwards.

``busy_host(300, 200)`` starts 300 sleeping processes and makes 200 cgroups named like systemd
services (``bench-007.service``) in one parent cgroup ``hostvitals-bench-<pid>`` of the cgroup
v2 tree the agent scans (``/sys/fs/cgroup`` on a v2 host, its ``unified`` mount on a hybrid
one), with the processes spread over them. The agent then walks and reads 200 more workloads
and 300 more processes on every scan.

Everything is removed when the ``with`` block ends, also on Ctrl-C and SIGTERM (turned into
SystemExit while the block runs). The processes die with the benchmark even when it is killed
with SIGKILL (``PR_SET_PDEATHSIG``); such a run leaves its empty cgroups behind, and the next
run removes the parents whose process is gone.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

PREFIX = "hostvitals-bench-"
CANDIDATES = (Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/unified"))


@dataclass
class BusyHost:
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    parent: Path | None = None
    groups: list[Path] = field(default_factory=list)
    why_no_cgroups: str = ""

    def describe(self) -> str:
        where = (
            f"{len(self.groups)} cgroups under {self.parent}"
            if self.parent is not None
            else f"no cgroups ({self.why_no_cgroups})"
        )
        return f"{len(self.processes)} extra processes, {where}"


def cgroup_v2_root() -> Path | None:
    """The unified hierarchy the agent scans, if this process may write to it."""
    for candidate in CANDIDATES:
        if (candidate / "cgroup.procs").exists() and (candidate / "cpu.stat").exists():
            return candidate if os.access(candidate, os.W_OK) else None
    return None


def remove_leftovers(root: Path) -> None:
    """Parents of earlier runs whose process is gone (a run killed with SIGKILL)."""
    for parent in root.glob(f"{PREFIX}*"):
        pid = parent.name.removeprefix(PREFIX)
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            _remove_tree(parent)


def _remove_tree(parent: Path) -> None:
    # Processes still inside keep a cgroup busy: move them to the root first.
    root = parent.parent
    for group in sorted(parent.iterdir(), reverse=True):
        if group.is_dir():
            for pid in (group / "cgroup.procs").read_text().split():
                with contextlib.suppress(OSError):
                    (root / "cgroup.procs").write_text(pid)
            with contextlib.suppress(OSError):
                group.rmdir()
    with contextlib.suppress(OSError):
        parent.rmdir()


PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL when the benchmark goes away."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _terminate(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def busy_host(processes: int, cgroups: int) -> Iterator[BusyHost]:
    made = BusyHost()
    previous = signal.signal(signal.SIGTERM, _terminate)
    previous_hup = signal.signal(signal.SIGHUP, _terminate)
    try:
        root = cgroup_v2_root()
        if root is None:
            made.why_no_cgroups = "no writable cgroup v2 tree; run as root on a cgroup v2 host"
        elif cgroups > 0:
            remove_leftovers(root)
            made.parent = root / f"{PREFIX}{os.getpid()}"
            made.parent.mkdir()
            for i in range(cgroups):
                group = made.parent / f"bench-{i:03d}.service"
                group.mkdir()
                made.groups.append(group)
        for i in range(processes):
            proc = subprocess.Popen(
                ["sleep", "infinity"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                preexec_fn=_die_with_parent,
            )
            made.processes.append(proc)
            if made.groups:
                (made.groups[i % len(made.groups)] / "cgroup.procs").write_text(str(proc.pid))
        yield made
    finally:
        for proc in made.processes:
            proc.kill()
        for proc in made.processes:
            proc.wait()
        if made.parent is not None:
            deadline = time.monotonic() + 10
            while made.parent.exists() and time.monotonic() < deadline:
                _remove_tree(made.parent)
                if made.parent.exists():
                    time.sleep(0.1)  # a killed process leaves its cgroup a moment later
            if made.parent.exists():
                print(f"warning: could not remove {made.parent}; remove it with rmdir")
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGHUP, previous_hup)
