"""Services and containers on cgroup v1, v2 and hybrid hosts: where the hierarchies are, which
one gives the numbers, and what each reports under the same names.

The fixture trees under ``tests/fixtures/cgroups`` are three hosts, each a ``proc`` with its
``self/mountinfo`` and a ``sys`` with its cgroup files: ``v1`` is CentOS 7-like (kernel 3.10,
Docker's cgroupfs driver, a kubelet's pod, sshd with memory accounting only, no
``oom_kill`` line, no ``_recursive`` throttle files), ``v2`` Fedora-like (every controller,
PSI) and ``hybrid`` Ubuntu 20.04-like (the controllers in v1, a ``unified`` tree without
controllers but with PSI).
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import pytest

from hostvitals.agent.samplers.base import Row
from hostvitals.agent.samplers.cgroup_mounts import (
    CgroupMount,
    find_layout,
    layout_from_mounts,
    parse_mountinfo,
)
from hostvitals.agent.samplers.cgroup_sources import (
    CPU,
    MEMORY,
    OOM,
    PRESSURE,
    READS,
    WORKING_SET,
    WRITES,
    ControllerTrees,
    UnifiedTree,
)
from hostvitals.agent.samplers.cgroups import INFO, CgroupsSampler, source_for
from hostvitals.agent.samplers.paths import HostPaths, read_small
from hostvitals.shared.catalogue import CATALOGUE

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "cgroups"
DOCKER = "3f4e5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7081"
K8S = "9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b"
POD = "kubepods/burstable/pod6b1c1e2a-4f0e-4d2b-9a37-5c8e1f2d3a4b"
CPU_PSI, MEMORY_PSI, IO_PSI = PRESSURE["cpu"], PRESSURE["memory"], PRESSURE["io"]
MiB = 1 << 20


def fixture(name: str) -> HostPaths:
    return HostPaths(procfs=FIXTURES / name / "proc", sysfs=FIXTURES / name / "sys")


def copied(name: str, tmp_path: Path) -> HostPaths:
    """A writable copy of a fixture host, its links kept."""
    shutil.copytree(FIXTURES / name, tmp_path / name, symlinks=True)
    return HostPaths(procfs=tmp_path / name / "proc", sysfs=tmp_path / name / "sys")


def by_workload(rows: list[Row]) -> dict[str, dict[str, float]]:
    found: dict[str, dict[str, float]] = {}
    for metric, labels, value in rows:
        if metric != INFO:
            found.setdefault(dict(labels)["name"], {})[metric] = value
    return found


# This machine's own mountinfo (a hybrid host without systemd): each v1 controller mounted
# alone, and hugetlb left to the unified tree.
THIS_HOST = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""


def test_mountinfo_names_the_cgroup_mounts_and_their_controllers() -> None:
    mounts = parse_mountinfo(THIS_HOST)
    assert [(m.point, m.version) for m in mounts] == [
        ("/sys/fs/cgroup/cpu", 1),
        ("/sys/fs/cgroup/cpuacct", 1),
        ("/sys/fs/cgroup/memory", 1),
        ("/sys/fs/cgroup/blkio", 1),
        ("/sys/fs/cgroup/systemd", 1),
        ("/sys/fs/cgroup/unified", 2),
    ]
    assert "cpuacct" in mounts[1].options and "name=systemd" in mounts[4].options
    # Optional fields before the separator, an escaped space in a mount point, junk lines.
    odd = parse_mountinfo(
        "50 29 0:40 / /mnt/my\\040cgroups rw shared:3 master:1 - cgroup cgroup rw,memory\n"
        "not a mountinfo line\n"
        "51 29 0:41 / /sys/fs/cgroup/x rw\n"
        "52 1 8:1 / / rw - ext4 /dev/sda1 rw\n"
    )
    assert odd == [CgroupMount("/mnt/my cgroups", 1, frozenset({"rw", "memory"}))]
    assert parse_mountinfo("") == []


@pytest.mark.parametrize(
    ("host", "unified", "controllers"),
    [
        ("v1", None, {"cpuacct": "cpu,cpuacct", "memory": "memory", "blkio": "blkio"}),
        ("v2", "", {}),
        ("hybrid", "unified", {"cpuacct": "cpu,cpuacct", "memory": "memory", "blkio": "blkio"}),
    ],
)
def test_the_layout_comes_from_mountinfo(
    host: str, unified: str | None, controllers: dict[str, str]
) -> None:
    paths = fixture(host)
    base = paths.sys("fs", "cgroup")
    layout = find_layout(paths)
    assert layout.unified == (None if unified is None else base / unified)
    assert dict(layout.controllers) == {name: base / d for name, d in controllers.items()}


def test_without_mountinfo_the_usual_places_are_looked_at(tmp_path: Path) -> None:
    for host in ("v1", "v2", "hybrid"):
        paths = HostPaths(procfs=tmp_path / "no-proc", sysfs=FIXTURES / host / "sys")
        layout, expected = find_layout(paths), find_layout(fixture(host))
        assert layout.unified == expected.unified, host
        # The same trees, reached by the cpu and cpuacct links to cpu,cpuacct.
        assert {n: p.resolve() for n, p in layout.controllers.items()} == {
            n: p.resolve() for n, p in expected.controllers.items()
        }, host


def test_mounts_below_the_sysfs_path_come_before_re_rooted_ones(tmp_path: Path) -> None:
    """In a container given the host's /sys at another path, mountinfo lists the
    container's own /sys/fs/cgroup mounts and the host's below that path: the host's win."""
    sysfs = tmp_path / "host-sys"
    own = sysfs / "fs" / "cgroup" / "cpuacct"  # where the container's /sys/... lands
    hosts = sysfs / "fs" / "cgroup" / "cpu,cpuacct"
    own.mkdir(parents=True)
    hosts.mkdir()
    mounts = [
        CgroupMount("/sys/fs/cgroup/cpuacct", 1, frozenset({"cpuacct"})),
        CgroupMount(str(hosts), 1, frozenset({"cpu", "cpuacct"})),
        CgroupMount("/elsewhere/memory", 1, frozenset({"memory"})),  # outside either
        CgroupMount("/sys/fs/cgroup/unified", 2),  # no cgroup.controllers there
    ]
    layout = layout_from_mounts(mounts, HostPaths(sysfs=sysfs))
    assert dict(layout.controllers) == {"cpuacct": hosts}
    assert layout.unified is None


def test_v1_controllers_give_the_numbers_on_v1_and_hybrid_hosts() -> None:
    v1 = source_for(find_layout(fixture("v1")), read_small)
    hybrid = source_for(find_layout(fixture("hybrid")), read_small)
    v2 = source_for(find_layout(fixture("v2")), read_small)
    assert isinstance(v1, ControllerTrees) and v1.unified is None
    # Hybrid: systemd keeps the controllers in v1; the unified tree is read for PSI only.
    assert isinstance(hybrid, ControllerTrees)
    assert hybrid.unified == str(fixture("hybrid").sys("fs", "cgroup", "unified"))
    assert isinstance(v2, UnifiedTree)


NGINX_IO = {READS: 1048576 + 104857, WRITES: 2097152 + 209715}  # two disks
DOCKER_IO = {READS: 8 * MiB, WRITES: 4 * MiB}


def test_a_v1_host_reports_what_v1_offers() -> None:
    got = by_workload(CgroupsSampler(fixture("v1")).collect())
    assert got == {
        # No oom_kill line on this kernel and no PSI on v1: left out, not zero.
        "nginx.service": {CPU: 1.5, MEMORY: 50 * MiB, WORKING_SET: 40 * MiB, **NGINX_IO},
        # Memory accounting only: no cpuacct or blkio cgroup, no CPU or I/O series.
        "sshd.service": {MEMORY: 5 * MiB, WORKING_SET: 4 * MiB},
        # blkio.throttle.io_service_bytes, not CFQ's io_service_bytes_recursive (4 KiB).
        DOCKER[:12]: {CPU: 4.0, MEMORY: 300 * MiB, WORKING_SET: 200 * MiB, **DOCKER_IO},
        K8S[:12]: {CPU: 0.25, MEMORY: 20 * MiB, WORKING_SET: 16 * MiB},
    }


def test_a_hybrid_host_reports_from_v1_with_pressure_from_the_unified_tree() -> None:
    got = by_workload(CgroupsSampler(fixture("hybrid")).collect())
    assert got == {
        # CPU from cpuacct.usage (1.5 s), not the unified tree's cpu.stat (1.499 s).
        "nginx.service": {
            CPU: 1.5,
            **NGINX_IO,
            OOM: 2,
            CPU_PSI: 3.0,
            MEMORY_PSI: 1.5,
            IO_PSI: 1.0,
            MEMORY: 50 * MiB,
            WORKING_SET: 40 * MiB,
        },
        # Not in the unified tree: no pressure. memory.failcnt (17) is not an OOM count.
        DOCKER[:12]: {
            CPU: 4.0,
            **DOCKER_IO,
            OOM: 0,
            MEMORY: 300 * MiB,
            WORKING_SET: 200 * MiB,
        },
        # cron.service is only in the unified tree (no v1 accounting): the kernel's cpu.stat
        # there, which every cgroup v2 directory has whatever controllers are bound.
        "cron.service": {CPU: 0.077},
    }


def test_a_v2_host_reports_every_series() -> None:
    got = by_workload(CgroupsSampler(fixture("v2")).collect())
    assert got["nginx.service"] == {
        CPU: 1.5,
        **NGINX_IO,
        OOM: 2,
        CPU_PSI: 3.0,
        MEMORY_PSI: 1.5,
        IO_PSI: 1.0,
        MEMORY: 50 * MiB,
        WORKING_SET: 40 * MiB,
    }
    assert got[DOCKER[:12]][CPU_PSI] == pytest.approx(0.6)
    assert got[K8S[:12]][READS] == 0  # an empty io.stat: no I/O yet
    assert set(got) == {"nginx.service", DOCKER[:12], K8S[:12]}


@pytest.mark.parametrize("host", ["v1", "v2", "hybrid"])
def test_every_layout_reports_catalogue_series_with_the_same_labels(host: str) -> None:
    rows = CgroupsSampler(fixture(host)).collect()
    runtimes = set()
    for metric, labels, _ in rows:
        assert metric in CATALOGUE, metric
        assert sorted(k for k, _ in labels) == sorted(CATALOGUE[metric].labels), metric
        if metric == CPU:
            runtimes.add(dict(labels)["runtime"])
    expected = {
        "v1": {"systemd", "docker", "kubernetes"},
        "v2": {"systemd", "docker", "kubernetes/containerd"},
        "hybrid": {"systemd", "docker"},
    }
    assert runtimes == expected[host]


def write(path: Path, value: int) -> None:
    path.write_text(f"{value}\n")


def test_v1_top_n_and_other_behave_as_on_v2(tmp_path: Path) -> None:
    paths = copied("v1", tmp_path)
    cpuacct = paths.sys("fs", "cgroup", "cpu,cpuacct")
    memory = paths.sys("fs", "cgroup", "memory")
    nginx_io = paths.sys(
        "fs", "cgroup", "blkio", "system.slice", "nginx.service", "blkio.throttle.io_service_bytes"
    )
    sampler = CgroupsSampler(paths, top_n=1)
    first = by_workload(sampler.collect())
    # Docker's container leads by CPU and by memory; the other three add up into "other".
    assert set(first) == {DOCKER[:12], "other"}
    assert first["other"] == {CPU: 0.0, READS: 0.0, WRITES: 0.0, MEMORY: 75 * MiB}
    # nginx burns 2 s and becomes the top by CPU; the pod's 0.3 s grow "other".
    write(cpuacct / "system.slice/nginx.service/cpuacct.usage", 3_500_000_000)
    write(cpuacct / f"{POD}/{K8S}/cpuacct.usage", 550_000_000)
    second = by_workload(sampler.collect())
    assert set(second) == {DOCKER[:12], "nginx.service", "other"}
    assert second["other"][CPU] == pytest.approx(0.3)
    # nginx idles and falls back into "other", where its reads grow by 1000 bytes; the pod
    # is removed. The aggregate's counters keep growing and never go back.
    write(cpuacct / f"docker/{DOCKER}/cpuacct.usage", 4_900_000_000)
    nginx_io.write_text(nginx_io.read_text().replace("8:0 Read 1048576", "8:0 Read 1049576"))
    for tree in (cpuacct, memory):
        shutil.rmtree(tree / POD / K8S)
    third = by_workload(sampler.collect())
    assert set(third) == {DOCKER[:12], "other"}
    assert third["other"][CPU] == pytest.approx(0.3)
    assert third["other"][READS] == 1000
    assert third["other"][MEMORY] == 55 * MiB  # nginx and sshd


@pytest.mark.parametrize("code", [errno.ENOENT, errno.ENODEV, errno.ESRCH])
@pytest.mark.parametrize("host", ["v1", "hybrid"])
def test_a_v1_container_vanishing_mid_scan_is_skipped(host: str, code: int) -> None:
    def read(path: str) -> str:
        if DOCKER in path:
            raise OSError(code, os.strerror(code), path)
        return read_small(path)

    got = by_workload(CgroupsSampler(fixture(host), read=read).collect())
    assert DOCKER[:12] not in got and got["nginx.service"][CPU] == 1.5


def test_a_v1_container_removed_between_the_walk_and_the_reads(tmp_path: Path) -> None:
    """Really removed: its directories go away after the walk listed them, before any of its
    files is read, and the reads fail as they do on a host (FileNotFoundError)."""
    paths = copied("v1", tmp_path)
    base = paths.sys("fs", "cgroup")
    removed: list[str] = []

    def read(path: str) -> str:
        if DOCKER in path and not removed:
            for tree in ("cpu,cpuacct", "memory", "blkio"):
                shutil.rmtree(base / tree / "docker" / DOCKER)
                removed.append(tree)
        return read_small(path)

    got = by_workload(CgroupsSampler(paths, read=read).collect())
    assert removed and DOCKER[:12] not in got
    assert set(got) == {"nginx.service", "sshd.service", K8S[:12]}


def test_a_v1_container_removed_after_its_ranking_keeps_what_was_read(tmp_path: Path) -> None:
    paths = copied("hybrid", tmp_path)
    base = paths.sys("fs", "cgroup")

    def read(path: str) -> str:
        if path.endswith("memory.usage_in_bytes") and DOCKER in path:
            text = read_small(path)
            for tree in ("cpu,cpuacct", "memory", "blkio"):
                shutil.rmtree(base / tree / "docker" / DOCKER)
            return text
        return read_small(path)

    got = by_workload(CgroupsSampler(paths, read=read).collect())
    assert got[DOCKER[:12]] == {CPU: 4.0, MEMORY: 300 * MiB}


def test_a_hybrid_service_in_the_unified_tree_only_reports_its_pressure_and_vanishes_cleanly(
    tmp_path: Path,
) -> None:
    paths = copied("hybrid", tmp_path)
    cron = paths.sys("fs", "cgroup", "unified", "system.slice", "cron.service")
    (cron / "cpu.pressure").write_text(
        "some avg10=0.00 avg60=0.00 avg300=0.00 total=250000\n"
        "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
    )
    got = by_workload(CgroupsSampler(paths).collect())
    assert got["cron.service"] == {CPU: 0.077, CPU_PSI: 0.25}

    def read(path: str) -> str:  # removed after the walk listed it, before its ranking
        if "cron.service" in path and cron.exists():
            shutil.rmtree(cron)
        return read_small(path)

    got = by_workload(CgroupsSampler(paths, read=read).collect())
    assert "cron.service" not in got
    assert got["nginx.service"][CPU] == 1.5  # from cpuacct.usage, as before
