"""The samplers read the host through ``--path.procfs``, ``--path.sysfs`` and ``--path.rootfs``.

The fixture trees under ``tests/fixtures`` are a small host: an Ubuntu root file system whose
``/etc/os-release`` is an absolute link (as on most distributions), a QEMU guest's DMI strings
and a procfs with two CPUs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from hostvitals.agent.__main__ import parse_args
from hostvitals.agent.config import AgentConfig, keep_restart_only, load_config
from hostvitals.agent.samplers.base import Labels, Row, Sampler
from hostvitals.agent.samplers.paths import HostPaths, read_small
from hostvitals.agent.sampling import build_samplers
from hostvitals.shared.catalogue import CATALOGUE

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
PROCFS, SYSFS, ROOTFS = FIXTURES / "procfs", FIXTURES / "sysfs", FIXTURES / "rootfs"
# The fixture procfs has no process directories for psutil to scan.
NO_PROCESS_TABLE = {"HOSTVITALS_AGENT_SAMPLERS__PROCESSES__ENABLED": "false"}
FLAGS = ["--path.procfs", str(PROCFS), "--path.sysfs", str(SYSFS), "--path.rootfs", str(ROOTFS)]


@pytest.fixture
def samplers() -> Iterator[dict[str, Sampler]]:
    """The default samplers built with the fixture paths; psutil's procfs restored after."""
    saved = psutil.PROCFS_PATH
    try:
        config = load_config(flags=vars(parse_args(FLAGS)), environ=NO_PROCESS_TABLE)
        scheduled, _ = build_samplers(config)
        yield {entry.sampler.name: entry.sampler for entry in scheduled}
    finally:
        psutil.PROCFS_PATH = saved


def by_series(rows: list[Row]) -> dict[tuple[str, Labels], float | int]:
    return {(metric, labels): value for metric, labels, value in rows}


def test_the_flags_set_the_paths_and_default_to_the_hosts_own() -> None:
    config = load_config(flags=vars(parse_args(FLAGS)))
    assert (config.paths.procfs, config.paths.sysfs, config.paths.rootfs) == (
        PROCFS,
        SYSFS,
        ROOTFS,
    )
    default = load_config()
    assert (default.paths.procfs, default.paths.sysfs, default.paths.rootfs) == (
        Path("/proc"),
        Path("/sys"),
        Path("/"),
    )
    env = load_config(environ={"HOSTVITALS_AGENT_PATH_PROCFS": "/host/proc"})
    assert env.paths.procfs == Path("/host/proc")


def test_a_reload_keeps_the_running_paths() -> None:
    old = load_config()
    new = load_config(environ={"HOSTVITALS_AGENT_PATH_SYSFS": "/host/sys"})
    kept, keys = keep_restart_only(old, new)
    assert keys == ["path_sysfs"] and kept.paths == old.paths


def test_the_new_samplers_are_on_by_default() -> None:
    enabled = AgentConfig(host="h").samplers.enabled
    assert {"pressure", "system", "sockets", "info"} <= enabled
    off = load_config(environ={"HOSTVITALS_AGENT_SAMPLERS__SOCKETS__ENABLED": "false"})
    assert "sockets" not in off.samplers.enabled


def test_pressure_from_the_fixture(samplers: dict[str, Sampler]) -> None:
    assert by_series(samplers["pressure"].collect()) == {
        ("node_pressure_cpu_waiting_seconds_total", ()): 2.23153,
        ("node_pressure_io_waiting_seconds_total", ()): 80.652922,
        ("node_pressure_io_stalled_seconds_total", ()): 59.114317,
        ("node_pressure_memory_waiting_seconds_total", ()): 1.420331,
        ("node_pressure_memory_stalled_seconds_total", ()): 0.873002,
    }


def test_system_from_the_fixture(samplers: dict[str, Sampler]) -> None:
    assert by_series(samplers["system"].collect()) == {
        ("node_boot_time_seconds", ()): 1718000000,
        ("node_context_switches_total", ()): 38014093,
        ("node_intr_total", ()): 8885917,
        ("node_forks_total", ()): 26442,
        ("node_procs_running", ()): 3,
        ("node_procs_blocked", ()): 1,
        ("node_filefd_allocated", ()): 9344,
        ("node_filefd_maximum", ()): 9223372036854775807,
        ("node_entropy_available_bits", ()): 256,
    }


def test_sockets_from_the_fixture(samplers: dict[str, Sampler]) -> None:
    rows = by_series(samplers["sockets"].collect())
    assert rows[("node_sockstat_TCP_mem_bytes", ())] == 3 * os.sysconf("SC_PAGE_SIZE")
    del rows[("node_sockstat_TCP_mem_bytes", ())]
    assert rows == {
        ("node_sockstat_sockets_used", ()): 229,
        ("node_sockstat_TCP_inuse", ()): 4,
        ("node_sockstat_TCP_orphan", ()): 1,
        ("node_sockstat_TCP_tw", ()): 4,
        ("node_sockstat_TCP_alloc", ()): 17,
        ("node_sockstat_TCP_mem", ()): 3,
        ("node_sockstat_UDP_inuse", ()): 2,
        ("node_sockstat_UDP_mem", ()): 5,
        ("node_sockstat_TCP6_inuse", ()): 17,
        ("node_sockstat_UDP6_inuse", ()): 9,
        ("node_netstat_Tcp_CurrEstab", ()): 12,
        ("node_netstat_Tcp_ActiveOpens", ()): 3556,
        ("node_netstat_Tcp_PassiveOpens", ()): 230,
        ("node_netstat_Tcp_RetransSegs", ()): 227,
        ("node_netstat_TcpExt_ListenOverflows", ()): 38,
        ("node_netstat_TcpExt_ListenDrops", ()): 41,
        ("node_netstat_Udp_InErrors", ()): 7,
    }


def test_info_from_the_fixture(samplers: dict[str, Sampler]) -> None:
    rows = {metric: dict(labels) for metric, labels, _ in samplers["info"].collect()}
    assert rows["node_os_info"] == {
        "id": "ubuntu",
        "name": "Ubuntu",
        "version_id": "24.04",
        "pretty_name": "Ubuntu 24.04.1 LTS",
    }
    assert rows["hostvitals_cpu_info"] == {
        "model_name": "Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz",
        "vendor": "GenuineIntel",
    }
    assert rows["hostvitals_virtualization_info"] == {"type": "qemu"}
    assert set(rows) == {
        "node_uname_info",
        "node_os_info",
        "hostvitals_cpu_info",
        "hostvitals_virtualization_info",
        "hostvitals_agent_build_info",
    }


def test_the_existing_proc_readers_follow_the_procfs_path(samplers: dict[str, Sampler]) -> None:
    memory = by_series(samplers["memory"].collect())
    assert memory[("node_memory_MemTotal_bytes", ())] == 4030500 * 1024
    assert memory[("node_memory_Cached_bytes", ())] == 2010000 * 1024
    # psutil reads <procfs>/vmstat: pages swapped, counted in 4 KiB units
    assert memory[("hostvitals_swap_in_bytes_total", ())] == 10 * 4096
    assert memory[("hostvitals_swap_out_bytes_total", ())] == 20 * 4096
    cpu = by_series(samplers["cpu"].collect())  # psutil reads <procfs>/stat
    assert cpu[("node_cpu_count", ())] == 2
    user = cpu[("node_cpu_seconds_total", (("cpu", "1"), ("mode", "user")))]
    assert user == pytest.approx(1335154 / os.sysconf("SC_CLK_TCK"))


def test_every_fixture_series_is_in_the_catalogue(samplers: dict[str, Sampler]) -> None:
    for name in ("pressure", "system", "sockets", "info"):
        for metric, labels, _ in samplers[name].collect():
            assert metric in CATALOGUE, metric
            assert sorted(k for k, _ in labels) == sorted(CATALOGUE[metric].labels), metric


def test_an_absolute_link_is_followed_inside_the_root(tmp_path: Path) -> None:
    paths = HostPaths(rootfs=ROOTFS)
    assert (ROOTFS / "etc" / "os-release").is_symlink()
    assert paths.root_file("/etc/os-release") == ROOTFS / "usr" / "lib" / "os-release"
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "relative").symlink_to("../target")
    assert HostPaths(rootfs=tmp_path).root_file("etc/relative") == tmp_path / "etc" / "../target"
    assert HostPaths().root_file("/etc/hostname") == Path("/etc/hostname")


def test_read_small_reads_a_whole_file(tmp_path: Path) -> None:
    big = tmp_path / "big"
    big.write_text("x" * 200_000 + "\u00e9")
    assert read_small(big) == "x" * 200_000 + "\u00e9"
    assert read_small(PROCFS / "sys" / "kernel" / "random" / "entropy_avail") == "256\n"
