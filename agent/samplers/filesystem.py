"""Space per real mount (``node_filesystem_*``).

Pseudo filesystems and system mount points are skipped with node_exporter's default ignore
patterns (plus ``tmpfs`` and ``ramfs``), bind mounts of one device are reported once, and
``statvfs`` runs in a guarded helper thread: a mount whose call fails or does not return in
time (a dead NFS server) is skipped and counted, and never blocks the other mounts.

With a root other than ``/`` (``path_rootfs``: the host's ``/`` mounted in the agent's
container) only the mounts at or below that root are the host's; they are reported under the
host's mount points (``/host/root/var`` as ``/var``) and the container's own are left out.
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import queue
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import psutil

from hostvitals.agent.samplers.base import Row, labels
from hostvitals.agent.throttle import Throttle

log = logging.getLogger(__name__)

DEFAULT_IGNORED_MOUNT_POINTS = (
    r"^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)"
)
DEFAULT_IGNORED_FS_TYPES = (
    r"^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|erofs|fusectl|"
    r"hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|ramfs|rpc_pipefs|securityfs|"
    r"selinuxfs|squashfs|sysfs|tmpfs|tracefs)$"
)
DEFAULT_STATVFS_TIMEOUT_S = 1.0


@dataclass(frozen=True, slots=True)
class Mount:
    device: str
    mountpoint: str
    fstype: str
    path: str = ""
    """Where statvfs looks when that is not ``mountpoint`` (a host mount under the root)."""


def host_mount_point(path: str, rootfs: str) -> str | None:
    """How the host names the mount at ``path``: ``path`` itself under the root ``/``; else
    the part below ``rootfs`` (``/host/root/var`` -> ``/var``), or None outside it."""
    root = rootfs.rstrip("/")
    if not root:
        return path
    if path == root:
        return "/"
    if path.startswith(root + "/"):
        return path[len(root) :]
    return None


def select_mounts(
    partitions: Iterable[Any],
    ignored_mount_points: re.Pattern[str],
    ignored_fs_types: re.Pattern[str],
    rootfs: str = "/",
) -> list[Mount]:
    """The mounts worth reporting from ``psutil.disk_partitions(all=True)``.

    Mounts outside ``rootfs``, ignored types and ignored mount points (as the host names
    them) are dropped; of several mounts of one device (bind mounts, btrfs subvolumes) only
    the one with the shortest mount point is kept.
    """
    by_device: dict[str, Mount] = {}
    for part in partitions:
        path = str(part.mountpoint)
        mountpoint = host_mount_point(path, rootfs)
        if mountpoint is None:
            continue
        seen_at = path if path != mountpoint else ""
        mount = Mount(str(part.device), mountpoint, str(part.fstype), seen_at)
        if ignored_fs_types.search(mount.fstype) or ignored_mount_points.search(mount.mountpoint):
            continue
        kept = by_device.get(mount.device)
        if kept is None or len(mount.mountpoint) < len(kept.mountpoint):
            by_device[mount.device] = mount
    return list(by_device.values())


def rows_from_statvfs(mount: Mount, st: Any) -> list[Row]:
    """Size, free and available bytes, computed like node_exporter (fragment size units)."""
    mount_labels = labels(device=mount.device, mountpoint=mount.mountpoint, fstype=mount.fstype)
    size = st.f_frsize or st.f_bsize
    return [
        ("node_filesystem_size_bytes", mount_labels, int(st.f_blocks) * size),
        ("node_filesystem_free_bytes", mount_labels, int(st.f_bfree) * size),
        ("node_filesystem_avail_bytes", mount_labels, int(st.f_bavail) * size),
    ]


class MountHungError(TimeoutError):
    """``statvfs`` on this mount did not return in time, or an earlier call still has not."""


_Job = tuple[str, "concurrent.futures.Future[Any]"] | None


class StatvfsGuard:
    """Runs ``statvfs`` in a daemon helper thread with a timeout.

    When a call times out, its thread is abandoned (it exits once the call returns) and the
    mount is refused until then, so a dead mount holds at most one thread. Meant for one
    caller at a time.
    """

    def __init__(
        self,
        timeout_s: float = DEFAULT_STATVFS_TIMEOUT_S,
        statvfs: Callable[[str], Any] = os.statvfs,
    ) -> None:
        self._timeout = timeout_s
        self._statvfs = statvfs
        self._lock = threading.Lock()
        self._hung: set[str] = set()
        self._inbox: queue.SimpleQueue[_Job] | None = None

    def hung(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._hung)

    def stat(self, path: str) -> Any:
        """``statvfs(path)``; raises OSError from the call or MountHungError."""
        with self._lock:
            if path in self._hung:
                raise MountHungError(f"statvfs({path!r}) from an earlier run has not returned")
            inbox = self._inbox if self._inbox is not None else self._start_worker()
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        inbox.put((path, future))
        try:
            return future.result(timeout=self._timeout)
        except concurrent.futures.TimeoutError:
            with self._lock:
                if not future.done():
                    self._hung.add(path)
                    self._inbox = None
                    inbox.put(None)  # the stuck worker exits when its call returns
                    raise MountHungError(
                        f"statvfs({path!r}) did not return within {self._timeout:g} s"
                    ) from None
            return future.result()

    def _start_worker(self) -> queue.SimpleQueue[_Job]:
        inbox: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        threading.Thread(
            target=self._work, args=(inbox,), name="hostvitals-statvfs", daemon=True
        ).start()
        self._inbox = inbox
        return inbox

    def _work(self, inbox: queue.SimpleQueue[_Job]) -> None:
        while (job := inbox.get()) is not None:
            path, future = job
            try:
                result = self._statvfs(path)
            except BaseException as exc:  # handed to the caller, who decides
                with self._lock:
                    self._hung.discard(path)
                    future.set_exception(exc)
            else:
                with self._lock:
                    self._hung.discard(path)
                    future.set_result(result)


MAX_UNREADABLE_MOUNTS = 256
"""Mount points the unreadable counter keeps apart; bounds the series it can create."""


class FilesystemSampler:
    name = "filesystem"

    def __init__(
        self,
        *,
        ignored_mount_points: str = DEFAULT_IGNORED_MOUNT_POINTS,
        ignored_fs_types: str = DEFAULT_IGNORED_FS_TYPES,
        guard: StatvfsGuard | None = None,
        partitions: Callable[[], Iterable[Any]] | None = None,
        rootfs: str = "/",
    ) -> None:
        self._rootfs = rootfs
        self._ignored_mount_points = re.compile(ignored_mount_points)
        self._ignored_fs_types = re.compile(ignored_fs_types)
        self._guard = guard if guard is not None else StatvfsGuard()
        self._partitions = partitions or (lambda: psutil.disk_partitions(all=True))
        self._throttle = Throttle()
        self.skipped_mounts = 0
        """Mounts skipped because statvfs failed or hung, over the sampler's life."""
        self._unreadable: dict[str, int] = {}
        self._unreadable_lock = threading.Lock()

    def collect(self) -> list[Row]:
        mounts = select_mounts(
            self._partitions(), self._ignored_mount_points, self._ignored_fs_types, self._rootfs
        )
        rows: list[Row] = []
        for mount in mounts:
            try:
                st = self._guard.stat(mount.path or mount.mountpoint)
            except (OSError, MountHungError) as exc:
                self.skipped_mounts += 1
                with self._unreadable_lock:
                    count = self._unreadable.get(mount.mountpoint)
                    if count is not None or len(self._unreadable) < MAX_UNREADABLE_MOUNTS:
                        self._unreadable[mount.mountpoint] = (count or 0) + 1
                self._throttle.log(
                    log,
                    logging.WARNING,
                    mount.mountpoint,
                    "skipping mount %s: %s",
                    mount.mountpoint,
                    exc,
                )
                continue
            rows.extend(rows_from_statvfs(mount, st))
        return rows

    def stats_rows(self) -> list[Row]:
        """``hostvitals_agent_filesystem_unreadable_total`` for every mount that failed."""
        with self._unreadable_lock:
            counts = list(self._unreadable.items())
        return [
            ("hostvitals_agent_filesystem_unreadable_total", labels(mountpoint=mount), count)
            for mount, count in counts
        ]
