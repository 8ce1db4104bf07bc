"""Services and containers from a cgroup v2 tree: what paths are, the parses on literal file
contents, top N plus ``other`` on a tree built like a host's, and names from a runtime API
served on a real unix socket. The v1 and hybrid layouts are in ``test_cgroup_layouts.py``."""

from __future__ import annotations

import errno
import http.server
import os
import socketserver
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest

from hostvitals.agent.samplers.cgroup_files import (
    Workload,
    classify,
    parse_blkio,
    parse_flat_keyed,
    parse_io_stat,
    parse_single,
    working_set,
)
from hostvitals.agent.samplers.cgroup_mounts import find_layout
from hostvitals.agent.samplers.cgroup_sources import (
    CPU,
    MEMORY,
    READS,
    WORKING_SET,
    WRITES,
    walk,
)
from hostvitals.agent.samplers.cgroups import INFO, OTHER, REFRESH_SCANS, CgroupsSampler
from hostvitals.agent.samplers.container_names import ContainerNames
from hostvitals.agent.samplers.paths import HostPaths

A = "a" * 64
B = "b" * 64
C = "c" * 64


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("system.slice/nginx.service", Workload("service", "systemd", "nginx.service")),
        ("system.slice/getty@tty1.service", Workload("service", "systemd", "getty@tty1.service")),
        (f"system.slice/docker-{A}.scope", Workload("container", "docker", A)),
        (f"machine.slice/libpod-{A}.scope", Workload("container", "podman", A)),
        (f"system.slice/cri-containerd-{A}.scope", Workload("container", "containerd", A)),
        (
            f"kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234.slice/crio-{A}.scope",
            Workload("container", "kubernetes/cri-o", A),
        ),
        (f"docker/{A}", Workload("container", "docker", A)),
        (f"kubepods/besteffort/pod1234/{A}", Workload("container", "kubernetes", A)),
        # The cgroupfs driver's names, usual on cgroup v1 hosts.
        (f"libpod_parent/libpod-{A}", Workload("container", "podman", A)),
        (f"kubepods/burstable/pod1234/crio-{A}", Workload("container", "kubernetes/cri-o", A)),
        (f"system.slice/docker-{A}.scope.bak", None),
        ("system.slice", None),
        ("user.slice/user-1000.slice/session-3.scope", None),
        ("init.scope", None),
        (f"elsewhere/{A}", None),
        ("system.slice/docker-123.scope", None),
    ],
)
def test_paths_name_services_and_containers(path: str, expected: Workload | None) -> None:
    assert classify(path) == expected


def test_parses_on_literal_contents() -> None:
    stat = "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\nnr_periods 0\n"
    assert parse_flat_keyed(stat)["usage_usec"] == 2_500_000
    assert parse_single("1048576\n") == 1048576
    assert parse_single("max\n") is None
    io = "8:0 rbytes=1000 wbytes=2000 rios=3 wios=4 dbytes=0 dios=0\n8:16 rbytes=5 wbytes=7\n"
    assert parse_io_stat(io) == (1005, 2007)
    assert parse_io_stat("") == (0, 0)
    assert working_set(1000, {"inactive_file": 300}) == 700
    assert working_set(100, {"inactive_file": 300}) == 0
    # cgroup v1: the hierarchical total, not the cgroup's own inactive_file
    v1_stat = {"inactive_file": 100, "total_inactive_file": 300}
    assert working_set(1000, v1_stat, "total_inactive_file") == 700


def test_v1_parses_on_literal_contents() -> None:
    usage = parse_single("1500000000\n")  # cpuacct.usage: nanoseconds
    assert usage == 1_500_000_000
    blkio = (
        "8:0 Read 1048576\n8:0 Write 2097152\n8:0 Sync 2097152\n8:0 Async 1048576\n"
        "8:0 Discard 0\n8:0 Total 3145728\n253:0 Read 10\n253:0 Write 20\nTotal 3145758\n"
    )
    assert parse_blkio(blkio) == (1048586, 2097172)
    assert parse_blkio("Total 0\n") == (0, 0)
    newer = parse_flat_keyed("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n")
    assert newer["oom_kill"] == 3
    older = parse_flat_keyed("oom_kill_disable 0\nunder_oom 1\n")  # before kernel 4.13
    assert "oom_kill" not in older


def group(
    root: Path, relative: str, *, cpu_us: int, memory: int | None = None, io: str = ""
) -> Path:
    path = root / relative
    path.mkdir(parents=True, exist_ok=True)
    (path / "cpu.stat").write_text(f"usage_usec {cpu_us}\nuser_usec {cpu_us}\n")
    if memory is not None:
        (path / "memory.current").write_text(f"{memory}\n")
        (path / "memory.stat").write_text(f"anon {memory}\ninactive_file {memory // 4}\n")
        (path / "memory.events").write_text("low 0\nhigh 0\nmax 0\noom 1\noom_kill 1\n")
    if io:
        (path / "io.stat").write_text(io)
    (path / "cpu.pressure").write_text("some avg10=0.00 avg60=0.00 avg300=0.00 total=3000000\n")
    return path


@pytest.fixture
def host(tmp_path: Path) -> HostPaths:
    """A cgroup v2 host: two services, two containers and slices between them."""
    root = tmp_path / "sys" / "fs" / "cgroup"
    root.mkdir(parents=True)
    (root / "cgroup.controllers").write_text("cpu io memory pids\n")
    (root / "cgroup.procs").write_text("1\n")
    (root / "cpu.stat").write_text("usage_usec 1\n")
    group(root, "system.slice", cpu_us=0)
    group(
        root,
        "system.slice/nginx.service",
        cpu_us=1_000_000,
        memory=50 << 20,
        io="8:0 rbytes=10 wbytes=20\n",
    )
    group(root, "system.slice/sshd.service", cpu_us=200_000, memory=5 << 20)
    group(root, f"system.slice/docker-{A}.scope", cpu_us=4_000_000, memory=300 << 20)
    # A workload's children are already counted in its own files: never walked.
    group(root, f"system.slice/docker-{A}.scope/inner.service", cpu_us=1)
    group(root, f"system.slice/docker-{B}.scope", cpu_us=100_000, memory=1 << 20)
    group(root, "user.slice/user-1000.slice/session-1.scope", cpu_us=9)
    # No mountinfo in this procfs: the tree is found at its usual place.
    return HostPaths(procfs=tmp_path / "proc", sysfs=tmp_path / "sys", rootfs=tmp_path / "root")


def test_the_tree_is_found_and_walked_to_its_workloads(host: HostPaths) -> None:
    layout = find_layout(host)
    assert layout.unified == host.sys("fs", "cgroup") and not layout.controllers
    assert layout.unified is not None
    found = {key: w.ident for key, w in walk(layout.unified)}
    assert found == {
        "system.slice/nginx.service": "nginx.service",
        "system.slice/sshd.service": "sshd.service",
        f"system.slice/docker-{A}.scope": A,
        f"system.slice/docker-{B}.scope": B,
    }


def test_a_host_without_cgroups_reports_nothing(tmp_path: Path) -> None:
    assert CgroupsSampler(HostPaths(procfs=tmp_path, sysfs=tmp_path)).collect() == []


def rows_by(
    rows: list[tuple[str, tuple[tuple[str, str], ...], float]],
) -> dict[tuple[str, str], float]:
    return {
        (metric, dict(labels)["name"]): value for metric, labels, value in rows if metric != INFO
    }


def test_every_workload_is_reported_when_they_fit_in_the_top(host: HostPaths) -> None:
    rows = CgroupsSampler(host, top_n=10).collect()
    got = rows_by(rows)
    assert got[(CPU, "nginx.service")] == 1.0
    assert got[(MEMORY, "nginx.service")] == 50 << 20
    assert got[(WORKING_SET, "nginx.service")] == (50 << 20) - (50 << 20) // 4
    assert got[(READS, "nginx.service")] == 10
    assert got[("container_oom_events_total", "nginx.service")] == 1
    assert got[("container_pressure_cpu_waiting_seconds_total", A[:12])] == 3.0
    labels = {dict(lab)["name"]: dict(lab) for metric, lab, _ in rows if metric != INFO}
    assert labels["nginx.service"] == {
        "kind": "service",
        "runtime": "systemd",
        "name": "nginx.service",
    }
    assert labels[A[:12]]["kind"] == "container"  # no runtime socket: the short id
    assert not any(labels == OTHER for _, labels, _ in rows)


def test_beyond_the_top_n_the_rest_is_one_other_series_that_never_goes_back(
    host: HostPaths,
) -> None:
    root = host.sys("fs", "cgroup")
    sampler = CgroupsSampler(host, top_n=1)
    first = rows_by(sampler.collect())
    # The largest by memory (A) is reported, everything else is "other".
    assert {name for _, name in first} == {A[:12], "other"}
    assert first[(CPU, "other")] == 0.0  # nothing has grown yet
    assert first[(MEMORY, "other")] == (50 + 5 + 1) << 20
    # nginx burns 2 s of CPU: it becomes the top by CPU, sshd grows by 0.3 s inside "other".
    group(root, "system.slice/nginx.service", cpu_us=3_000_000, memory=50 << 20)
    group(root, "system.slice/sshd.service", cpu_us=500_000, memory=5 << 20)
    second = rows_by(sampler.collect())
    assert {name for _, name in second} == {A[:12], "nginx.service", "other"}
    assert second[(CPU, "other")] == pytest.approx(0.3)
    # nginx idles and drops back into "other"; the aggregate keeps growing, never resets.
    group(root, f"system.slice/docker-{B}.scope", cpu_us=900_000, memory=1 << 20)
    third = rows_by(sampler.collect())
    assert (CPU, "nginx.service") not in third
    assert third[(CPU, "other")] == pytest.approx(0.3)  # nginx did not grow; B is now top
    assert (CPU, B[:12]) in third


@pytest.mark.parametrize("code", [errno.ENOENT, errno.ENODEV, errno.ESRCH])
def test_a_workload_vanishing_mid_scan_is_skipped(host: HostPaths, code: int) -> None:
    """Listed by the walk, removed before its files are read: a removed cgroup's files
    answer ENOENT once the directory is gone, ENODEV or ESRCH while it is going."""

    def read(path: str) -> str:
        if "sshd" in path:
            raise OSError(code, os.strerror(code), path)
        return Path(path).read_text()

    names = {name for _, name in rows_by(CgroupsSampler(host, read=read).collect())}
    assert "sshd.service" not in names and "nginx.service" in names


def test_a_top_workload_vanishing_after_its_ranking_keeps_what_was_read(
    host: HostPaths,
) -> None:
    """Ranked, then removed before its other files are read: its CPU and memory are
    reported, what could not be read is left out rather than zero."""

    def read(path: str) -> str:
        if "nginx" in path and not path.endswith(("cpu.stat", "memory.current")):
            raise OSError(errno.ENODEV, os.strerror(errno.ENODEV), path)
        return Path(path).read_text()

    got = rows_by(CgroupsSampler(host, read=read).collect())
    assert got[(CPU, "nginx.service")] == 1.0 and got[(MEMORY, "nginx.service")] == 50 << 20
    assert (WORKING_SET, "nginx.service") not in got
    assert (READS, "nginx.service") not in got
    assert ("container_oom_events_total", "nginx.service") not in got
    assert ("container_pressure_cpu_waiting_seconds_total", "nginx.service") not in got


def test_a_kernel_without_psi_reports_the_rest_and_no_pressure(host: HostPaths) -> None:
    """No ``*.pressure`` files (a kernel without CONFIG_PSI), or reads refused with
    EOPNOTSUPP (booted with ``psi=0``): no pressure series, not zeros."""
    for pressure_file in host.sys("fs", "cgroup").rglob("*.pressure"):
        pressure_file.unlink()
    missing = CgroupsSampler(host).collect()

    def refused(path: str) -> str:
        if path.endswith(".pressure"):
            raise OSError(errno.EOPNOTSUPP, os.strerror(errno.EOPNOTSUPP), path)
        return Path(path).read_text()

    group(host.sys("fs", "cgroup"), "system.slice/nginx.service", cpu_us=1_000_000)
    assert host.sys("fs", "cgroup", "system.slice", "nginx.service", "cpu.pressure").exists()
    psi_off = CgroupsSampler(host, read=refused).collect()
    for rows in (missing, psi_off):
        got = rows_by(rows)
        assert got[(CPU, "nginx.service")] == 1.0
        assert got[(MEMORY, "nginx.service")] == 50 << 20
        assert not [metric for metric, _, _ in rows if "pressure" in metric]


class ContainerList(http.server.BaseHTTPRequestHandler):
    answer: bytes = b"[]"
    asked: list[str] = []

    def do_GET(self) -> None:
        ContainerList.asked.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.answer)))
        self.end_headers()
        self.wfile.write(self.answer)

    def log_message(self, format: str, *args: object) -> None:
        pass


class UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def get_request(self) -> tuple[object, tuple[str, int]]:
        request, _ = super().get_request()
        return request, ("local", 0)  # BaseHTTPRequestHandler wants a (host, port)


@pytest.fixture
def docker(host: HostPaths) -> Iterator[Path]:
    """A Docker API on the host's socket path, listing container A."""
    path = host.root("var/run/docker.sock")
    path.parent.mkdir(parents=True)
    ContainerList.answer = orjson.dumps(
        [{"Id": A, "Names": ["/web"], "Image": "nginx:1.27"}, {"Id": C, "Names": []}]
    )
    ContainerList.asked = []
    server = UnixHTTPServer(str(path), ContainerList)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield path
    server.shutdown()
    server.server_close()


def test_containers_are_named_by_the_runtime_and_asked_at_most_once_a_minute(
    host: HostPaths, docker: Path
) -> None:
    now = [0.0]
    names = ContainerNames(host, clock=lambda: now[0])
    sampler = CgroupsSampler(host, names=names)
    rows = sampler.collect()
    by_name = {dict(labels)["name"]: dict(labels) for metric, labels, _ in rows if metric != INFO}
    assert by_name["web"]["runtime"] == "docker"
    info = [dict(labels) for metric, labels, _ in rows if metric == INFO]
    assert {"runtime": "docker", "name": "web", "image": "nginx:1.27", "id": A[:12]} in info
    assert B[:12] in by_name  # the runtime does not list it: its id
    asked = len(ContainerList.asked)
    assert ContainerList.asked[0] == "/containers/json"
    sampler.collect()
    sampler.collect()
    assert len(ContainerList.asked) == asked  # B unknown, but not asked again within a minute
    now[0] = 61.0
    sampler.collect()
    assert len(ContainerList.asked) == asked + 1


def test_a_broken_runtime_socket_leaves_ids(host: HostPaths, tmp_path: Path) -> None:
    path = host.root("var/run/docker.sock")
    path.parent.mkdir(parents=True)
    path.write_text("not a socket")
    rows = CgroupsSampler(host).collect()
    assert A[:12] in {dict(labels)["name"] for _, labels, _ in rows}


def counting_reader() -> tuple[dict[str, int], Callable[[str], str]]:
    reads: dict[str, int] = {}

    def read(path: str) -> str:
        name = "/".join(path.split("/")[-2:])
        reads[name] = reads.get(name, 0) + 1
        return Path(path).read_text()

    return reads, read


def test_an_idle_workload_outside_the_top_keeps_its_figures_until_a_refresh(
    host: HostPaths,
) -> None:
    """sshd's CPU time does not move: its memory and I/O files are read again only every
    REFRESH_SCANS scans, and what it wrote meanwhile reaches "other" then, not lost."""
    root = host.sys("fs", "cgroup")
    sshd = "system.slice/sshd.service"
    group(root, sshd, cpu_us=200_000, memory=5 << 20, io="8:0 wbytes=0\n")
    reads, read = counting_reader()
    sampler = CgroupsSampler(host, top_n=1, read=read)
    sampler.collect()  # A is the top by CPU and by memory
    group(root, sshd, cpu_us=200_000, memory=7 << 20, io="8:0 wbytes=64\n")
    for scan in range(1, REFRESH_SCANS):
        # nginx is busy (the top by CPU from now on), sshd is idle
        group(root, "system.slice/nginx.service", cpu_us=1_000_000 + scan, memory=50 << 20)
        got = rows_by(sampler.collect())
        assert got[(WRITES, "other")] == 0
        assert got[(MEMORY, "other")] == (5 + 1) << 20
    assert reads["sshd.service/memory.current"] == 1
    assert reads["sshd.service/io.stat"] == 1
    assert reads["sshd.service/cpu.stat"] == REFRESH_SCANS
    group(root, "system.slice/nginx.service", cpu_us=2_000_000, memory=50 << 20)
    got = rows_by(sampler.collect())  # the refresh
    assert reads["sshd.service/memory.current"] == 2
    assert got[(MEMORY, "other")] == (7 + 1) << 20
    assert got[(WRITES, "other")] == 64


def test_a_workload_whose_cpu_moved_is_read_again_at_once(host: HostPaths) -> None:
    root = host.sys("fs", "cgroup")
    sshd = "system.slice/sshd.service"
    group(root, sshd, cpu_us=200_000, memory=5 << 20, io="8:0 wbytes=0\n")
    reads, read = counting_reader()
    sampler = CgroupsSampler(host, top_n=1, read=read)
    sampler.collect()
    group(root, f"system.slice/docker-{A}.scope", cpu_us=9_000_000, memory=300 << 20)
    group(root, sshd, cpu_us=300_000, memory=6 << 20, io="8:0 wbytes=8\n")
    got = rows_by(sampler.collect())
    assert reads["sshd.service/memory.current"] == 2
    assert got[(WRITES, "other")] == 8
    assert got[(MEMORY, "other")] == (50 + 6 + 1) << 20
