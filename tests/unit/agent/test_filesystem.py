"""Filesystem sampler: mount selection, statvfs conversion, failing and hanging mounts."""

from __future__ import annotations

import os
import re
import threading
import time
from collections import namedtuple
from types import SimpleNamespace
from typing import Any

import pytest

from hostvitals.agent.samplers.filesystem import (
    DEFAULT_IGNORED_FS_TYPES,
    DEFAULT_IGNORED_MOUNT_POINTS,
    FilesystemSampler,
    Mount,
    MountHungError,
    StatvfsGuard,
    rows_from_statvfs,
    select_mounts,
)

Part = namedtuple("Part", "device mountpoint fstype opts")

PARTITIONS = [
    Part("proc", "/proc", "proc", "rw"),
    Part("sysfs", "/sys", "sysfs", "rw"),
    Part("devtmpfs", "/dev", "devtmpfs", "rw"),
    Part("tmpfs", "/run", "tmpfs", "rw"),
    Part("cgroup2", "/sys/fs/cgroup", "cgroup2", "rw"),
    Part("overlay", "/var/lib/docker/overlay2/abc/merged", "overlay", "rw"),
    Part("/dev/loop3", "/snap/core/1", "squashfs", "ro"),
    Part("/dev/sda1", "/", "ext4", "rw"),
    Part("/dev/sda2", "/home", "xfs", "rw"),
    Part("/dev/sda1", "/var/lib/docker", "ext4", "rw"),  # bind mount of the root device
    Part("/dev/sda1", "/srv/bind", "ext4", "rw"),
    Part("server:/export", "/mnt/nfs", "nfs4", "rw"),
    Part("/dev/sdb1", "/run/credentials/x.service", "ext4", "rw"),
]


def select(parts: list[Any]) -> list[Mount]:
    return select_mounts(
        parts, re.compile(DEFAULT_IGNORED_MOUNT_POINTS), re.compile(DEFAULT_IGNORED_FS_TYPES)
    )


class TestSelectMounts:
    def test_pseudo_filesystems_and_system_mount_points_are_skipped(self) -> None:
        assert select(PARTITIONS) == [
            Mount("/dev/sda1", "/", "ext4"),
            Mount("/dev/sda2", "/home", "xfs"),
            Mount("server:/export", "/mnt/nfs", "nfs4"),
        ]

    def test_bind_mounts_keep_the_shortest_mount_point_whatever_the_order(self) -> None:
        parts = [
            Part("/dev/sda1", "/srv/data/bind", "ext4", "rw"),
            Part("/dev/sda1", "/srv", "ext4", "rw"),
            Part("/dev/sda1", "/srv/other", "ext4", "rw"),
        ]
        assert select(parts) == [Mount("/dev/sda1", "/srv", "ext4")]

    def test_custom_patterns(self) -> None:
        mounts = select_mounts(PARTITIONS, re.compile(r"^/home$"), re.compile(r"^nfs"))
        points = {m.mountpoint for m in mounts}
        assert "/home" not in points and "/mnt/nfs" not in points
        assert "/proc" in points  # the custom lists replace the defaults


def statvfs_result(blocks: int, bfree: int, bavail: int, frsize: int = 4096) -> Any:
    return SimpleNamespace(
        f_blocks=blocks, f_bfree=bfree, f_bavail=bavail, f_frsize=frsize, f_bsize=frsize
    )


# A container's mounts with the host's / bound at /host/root (and its mounts propagated).
CONTAINER = [
    Part("overlay", "/", "overlay", "rw"),
    Part("proc", "/proc", "proc", "rw"),
    Part("/dev/sda1", "/etc/hosts", "ext4", "rw"),  # the runtime's binds from the host disk
    Part("/dev/sda1", "/var/lib/hostvitals-agent", "ext4", "rw"),
    Part("/dev/sda1", "/host/root", "ext4", "ro"),
    Part("/dev/sda2", "/host/root/home", "xfs", "ro"),
    Part("proc", "/host/root/proc", "proc", "ro"),
    Part("/dev/sdb1", "/host/root/var/lib/docker/volumes/v", "ext4", "ro"),  # ignored there
    Part("/dev/sdc1", "/host/rootless", "ext4", "ro"),  # beside the root, not below it
]


class TestUnderAnotherRoot:
    def test_only_the_hosts_mounts_under_their_host_names(self) -> None:
        mounts = select_mounts(
            CONTAINER,
            re.compile(DEFAULT_IGNORED_MOUNT_POINTS),
            re.compile(DEFAULT_IGNORED_FS_TYPES),
            "/host/root/",
        )
        assert mounts == [
            Mount("/dev/sda1", "/", "ext4", "/host/root"),
            Mount("/dev/sda2", "/home", "xfs", "/host/root/home"),
        ]

    def test_the_default_root_changes_nothing(self) -> None:
        assert select(PARTITIONS) == select_mounts(
            PARTITIONS,
            re.compile(DEFAULT_IGNORED_MOUNT_POINTS),
            re.compile(DEFAULT_IGNORED_FS_TYPES),
            "/",
        )

    def test_statvfs_looks_where_the_agent_sees_the_mount(self) -> None:
        looked: list[str] = []

        def statvfs(path: str) -> Any:
            looked.append(path)
            return SimpleNamespace(f_frsize=4096, f_bsize=4096, f_blocks=10, f_bfree=5, f_bavail=4)

        sampler = FilesystemSampler(
            partitions=lambda: CONTAINER, guard=StatvfsGuard(statvfs=statvfs), rootfs="/host/root"
        )
        rows = sampler.collect()
        assert looked == ["/host/root", "/host/root/home"]
        assert {dict(labels)["mountpoint"] for _, labels, _ in rows} == {"/", "/home"}


def test_statvfs_conversion_uses_fragment_size() -> None:
    mount = Mount("/dev/sda1", "/", "ext4")
    rows = rows_from_statvfs(mount, statvfs_result(1000, 300, 250, frsize=1024))
    labels = (("device", "/dev/sda1"), ("mountpoint", "/"), ("fstype", "ext4"))
    assert rows == [
        ("node_filesystem_size_bytes", labels, 1024000),
        ("node_filesystem_free_bytes", labels, 307200),
        ("node_filesystem_avail_bytes", labels, 256000),
    ]


def test_statvfs_conversion_matches_os_statvfs_here() -> None:
    st = os.statvfs("/")
    rows = rows_from_statvfs(Mount("x", "/", "y"), st)
    assert rows[0][2] == st.f_blocks * st.f_frsize


def test_a_failing_mount_is_skipped_and_counted() -> None:
    def statvfs(path: str) -> Any:
        if path == "/home":
            raise PermissionError(13, "Permission denied", path)
        return statvfs_result(10, 5, 4)

    sampler = FilesystemSampler(
        guard=StatvfsGuard(5.0, statvfs=statvfs), partitions=lambda: PARTITIONS
    )
    rows = sampler.collect()
    points = {dict(labels)["mountpoint"] for _, labels, _ in rows}
    assert points == {"/", "/mnt/nfs"}
    assert sampler.skipped_mounts == 1
    sampler.collect()
    assert sampler.skipped_mounts == 2


def wait_for(condition: Any, what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


class TestStatvfsGuard:
    def test_returns_the_result_and_passes_errors_through(self) -> None:
        def statvfs(path: str) -> Any:
            if path == "/gone":
                raise FileNotFoundError(path)
            return path.upper()

        guard = StatvfsGuard(5.0, statvfs=statvfs)
        assert guard.stat("/a") == "/A"
        with pytest.raises(FileNotFoundError):
            guard.stat("/gone")
        assert guard.stat("/b") == "/B"

    def test_a_hanging_mount_is_refused_until_its_call_returns(self) -> None:
        release = threading.Event()
        calls: list[str] = []

        def statvfs(path: str) -> Any:
            calls.append(path)
            if path == "/nfs":
                release.wait(10)
            return path

        guard = StatvfsGuard(0.05, statvfs=statvfs)
        with pytest.raises(MountHungError, match="did not return"):
            guard.stat("/nfs")
        assert guard.hung() == {"/nfs"}
        # Other mounts still answer (through a fresh helper thread).
        assert guard.stat("/") == "/"
        # The hung mount is refused at once, without a second call piling up.
        with pytest.raises(MountHungError, match="has not returned"):
            guard.stat("/nfs")
        assert calls.count("/nfs") == 1

        release.set()
        wait_for(lambda: not guard.hung(), "the hung call to return")
        assert guard.stat("/nfs") == "/nfs"

    def test_sampler_skips_a_hanging_mount_and_reports_the_rest(self) -> None:
        release = threading.Event()

        def statvfs(path: str) -> Any:
            if path == "/mnt/nfs":
                release.wait(10)
            return statvfs_result(10, 5, 4)

        sampler = FilesystemSampler(
            guard=StatvfsGuard(0.05, statvfs=statvfs), partitions=lambda: PARTITIONS
        )
        try:
            rows = sampler.collect()
            points = {dict(labels)["mountpoint"] for _, labels, _ in rows}
            assert points == {"/", "/home"}
            assert sampler.skipped_mounts == 1
        finally:
            release.set()
