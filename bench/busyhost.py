"""A busy host for the footprint benchmark: extra processes and cgroups, removed afterwards.

``busy_host(300, 200)`` starts 300 sleeping processes and makes 200 cgroups named like systemd
services (``bench-007.service``) in one parent cgroup ``hostvitals-bench-<pid>`` of each tree
the agent scans (``/sys/fs/cgroup`` on a cgroup v2 host; the ``cpuacct``, ``memory`` and
``blkio`` trees on a v1 or hybrid host), with the processes spread over them. The agent then
walks and reads 200 more workloads and 300 more processes on every scan.

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

from hostvitals.agent.samplers.cgroup_mounts import find_layout
from hostvitals.agent.samplers.cgroup_sources import ControllerTrees, UnifiedTree
from hostvitals.agent.samplers.cgroups import source_for
from hostvitals.agent.samplers.paths import HostPaths, read_small

PREFIX = "hostvitals-bench-"


@dataclass
class BusyHost:
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    parents: list[Path] = field(default_factory=list)
    """One parent per tree: the same cgroups are made in each."""
    groups: list[Path] = field(default_factory=list)
    """The cgroups of the first tree, one per workload the agent sees."""
    why_no_cgroups: str = ""

    def describe(self) -> str:
        where = (
            f"{len(self.groups)} cgroups under {', '.join(map(str, self.parents))}"
            if self.parents
            else f"no cgroups ({self.why_no_cgroups})"
        )
        return f"{len(self.processes)} extra processes, {where}"


def scanned_trees() -> list[Path]:
    """The trees the agent's cgroups sampler scans, if this process may write to them all."""
    source = source_for(find_layout(HostPaths()), read_small)
    if isinstance(source, UnifiedTree):
        trees = [Path(source.root)]
    elif isinstance(source, ControllerTrees):
        found = (source.cpuacct, source.memory, source.blkio)
        trees = list(dict.fromkeys(Path(tree).resolve() for tree in found if tree is not None))
    else:
        return []
    return trees if all(os.access(tree, os.W_OK) for tree in trees) else []


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
        trees = scanned_trees()
        if not trees:
            made.why_no_cgroups = "no writable cgroup tree; run as root"
        elif cgroups > 0:
            for tree in trees:
                remove_leftovers(tree)
                parent = tree / f"{PREFIX}{os.getpid()}"
                parent.mkdir()
                made.parents.append(parent)
                for i in range(cgroups):
                    group = parent / f"bench-{i:03d}.service"
                    group.mkdir()
                    if tree == trees[0]:
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
                name = made.groups[i % len(made.groups)].name
                for parent in made.parents:
                    (parent / name / "cgroup.procs").write_text(str(proc.pid))
        yield made
    finally:
        for proc in made.processes:
            proc.kill()
        for proc in made.processes:
            proc.wait()
        for parent in made.parents:
            deadline = time.monotonic() + 10
            while parent.exists() and time.monotonic() < deadline:
                _remove_tree(parent)
                if parent.exists():
                    time.sleep(0.1)  # a killed process leaves its cgroup a moment later
            if parent.exists():
                print(f"warning: could not remove {parent}; remove it with rmdir")
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGHUP, previous_hup)
