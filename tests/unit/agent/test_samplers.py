"""Conversion of psutil results into rows, with faked psutil data, for the simple samplers."""

from __future__ import annotations

from collections import namedtuple
from pathlib import Path
from types import SimpleNamespace

import psutil
import pytest

from hostvitals.agent.samplers.agent_self import (
    AgentSelfSampler,
    rows_from_self,
    rss_from_statm,
)
from hostvitals.agent.samplers.base import Labels, Row
from hostvitals.agent.samplers.cpu import MODES, rows_from_cpu_times
from hostvitals.agent.samplers.disk import rows_from_disk_counters
from hostvitals.agent.samplers.load import read_loadavg, rows_from_loadavg
from hostvitals.agent.samplers.memory import (
    MemorySampler,
    parse_meminfo,
    rows_from_meminfo,
    rows_from_psutil,
    rows_from_swap_io,
    swap_io_from_vmstat,
)
from hostvitals.agent.samplers.network import rows_from_net_counters

CpuTimes = namedtuple(
    "CpuTimes",
    "user nice system idle iowait irq softirq steal guest guest_nice",
)


def as_dict(rows: list[Row]) -> dict[tuple[str, Labels], float | int]:
    return {(metric, labels): value for metric, labels, value in rows}


class TestCpu:
    def test_every_mode_of_every_cpu_and_the_count(self) -> None:
        per_cpu = [CpuTimes(*range(1, 11)), CpuTimes(*range(11, 21))]
        rows = as_dict(rows_from_cpu_times(per_cpu))
        assert rows[("node_cpu_count", ())] == 2
        assert rows[("node_cpu_seconds_total", (("cpu", "1"), ("mode", "steal")))] == 18.0
        assert rows[("node_cpu_seconds_total", (("cpu", "0"), ("mode", "user")))] == 1.0
        # guest time is part of user time on Linux; it is not a mode of its own
        modes = {dict(labels)["mode"] for metric, labels in rows if metric != "node_cpu_count"}
        assert modes == set(MODES)
        assert len(rows) == 2 * len(MODES) + 1

    def test_a_platform_without_some_modes_omits_them(self) -> None:
        mac = SimpleNamespace(user=1.5, nice=0.0, system=2.5, idle=100.0)
        rows = as_dict(rows_from_cpu_times([mac]))
        modes = {dict(labels)["mode"] for metric, labels in rows if metric != "node_cpu_count"}
        assert modes == {"user", "nice", "system", "idle"}
        assert all(isinstance(v, float) for k, v in rows.items() if k[0] != "node_cpu_count")


class TestLoad:
    def test_rows(self) -> None:
        rows = as_dict(rows_from_loadavg((0.5, 1.25, 2.0)))
        assert rows == {("node_load1", ()): 0.5, ("node_load5", ()): 1.25, ("node_load15", ()): 2.0}

    def test_falls_back_when_psutil_cannot(self) -> None:
        def broken() -> tuple[float, float, float]:
            raise OSError("no load average here")

        assert read_loadavg(broken, fallback=lambda: (3.0, 2.0, 1.0)) == (3.0, 2.0, 1.0)
        assert read_loadavg(lambda: (1.0, 1.0, 1.0), fallback=broken) == (1.0, 1.0, 1.0)


MEMINFO = """\
MemTotal:       16318436 kB
MemFree:          512000 kB
MemAvailable:    8000000 kB
Buffers:          100000 kB
Cached:          4000000 kB
SwapCached:            0 kB
Shmem:             20000 kB
SReclaimable:     300000 kB
SwapTotal:       2097148 kB
SwapFree:        2097000 kB
HugePages_Total:       0
Hugepagesize:       2048 kB
garbage line
Broken:          abc kB
"""


class TestMemory:
    def test_meminfo_is_parsed_into_bytes(self) -> None:
        info = parse_meminfo(MEMINFO)
        assert info["MemTotal"] == 16318436 * 1024
        assert info["HugePages_Total"] == 0
        assert "Broken" not in info

    def test_cached_is_the_raw_field_not_psutils_sum(self) -> None:
        rows = as_dict(rows_from_meminfo(parse_meminfo(MEMINFO)))
        assert rows[("node_memory_Cached_bytes", ())] == 4000000 * 1024
        assert rows[("node_memory_SwapFree_bytes", ())] == 2097000 * 1024
        assert len(rows) == 8

    def test_missing_fields_are_skipped(self) -> None:
        rows = as_dict(rows_from_meminfo({"MemTotal": 10, "MemFree": 5}))
        assert rows == {
            ("node_memory_MemTotal_bytes", ()): 10,
            ("node_memory_MemFree_bytes", ()): 5,
        }

    def test_psutil_fallback_maps_names_and_skips_absent_ones(self) -> None:
        virtual = SimpleNamespace(total=100, available=60, free=40, cached=30, shared=2)
        swap = SimpleNamespace(total=50, free=45, sin=7, sout=9)
        rows = as_dict(rows_from_psutil(virtual, swap))
        assert rows == {
            ("node_memory_MemTotal_bytes", ()): 100,
            ("node_memory_MemAvailable_bytes", ()): 60,
            ("node_memory_MemFree_bytes", ()): 40,
            ("node_memory_Cached_bytes", ()): 30,
            ("node_memory_Shmem_bytes", ()): 2,
            ("node_memory_SwapTotal_bytes", ()): 50,
            ("node_memory_SwapFree_bytes", ()): 45,
        }
        assert as_dict(rows_from_swap_io(swap)) == {
            ("hostvitals_swap_in_bytes_total", ()): 7,
            ("hostvitals_swap_out_bytes_total", ()): 9,
        }

    def test_swap_io_absent_on_some_platforms(self) -> None:
        assert rows_from_swap_io(SimpleNamespace(total=0, free=0)) == []

    def test_swap_io_from_vmstat_counts_4_kib_pages_like_psutil(self) -> None:
        text = "nr_free_pages 1\npswpin 3\npswpout 5\npswpin_extra 9\n"
        assert swap_io_from_vmstat(text) == {"sin": 3 * 4096, "sout": 5 * 4096}
        assert swap_io_from_vmstat("pswpin 7\npswpout 0") == {"sin": 7 * 4096, "sout": 0}

    def test_swap_io_is_zero_without_the_lines_as_psutil_has_it(self) -> None:
        assert swap_io_from_vmstat("") == {"sin": 0, "sout": 0}
        assert swap_io_from_vmstat("xpswpin 3\npswpout x\n") == {"sin": 0, "sout": 0}

    def test_sampler_reads_meminfo_and_vmstat_beside_it(self, tmp_path: Path) -> None:
        (tmp_path / "meminfo").write_text(MEMINFO)
        (tmp_path / "vmstat").write_text("pgpgin 1\npswpin 2\npswpout 3\n")
        rows = as_dict(MemorySampler(tmp_path / "meminfo").collect())
        assert rows[("node_memory_SwapTotal_bytes", ())] == parse_meminfo(MEMINFO)["SwapTotal"]
        assert rows[("hostvitals_swap_in_bytes_total", ())] == 2 * 4096
        assert rows[("hostvitals_swap_out_bytes_total", ())] == 3 * 4096
        (tmp_path / "vmstat").unlink()
        rows = as_dict(MemorySampler(tmp_path / "meminfo").collect())
        assert rows[("hostvitals_swap_in_bytes_total", ())] == 0

    def test_sampler_agrees_with_psutil_on_this_host(self) -> None:
        before = psutil.swap_memory()
        rows = as_dict(MemorySampler().collect())
        after = psutil.swap_memory()
        assert rows[("node_memory_SwapTotal_bytes", ())] == after.total
        assert before.sin <= rows[("hostvitals_swap_in_bytes_total", ())] <= after.sin
        assert before.sout <= rows[("hostvitals_swap_out_bytes_total", ())] <= after.sout


DiskIO = namedtuple(
    "DiskIO",
    "read_count write_count read_bytes write_bytes read_time write_time busy_time",
)


class TestDisk:
    def test_counters_and_times_in_seconds(self) -> None:
        rows = as_dict(rows_from_disk_counters({"sda": DiskIO(1, 2, 512, 1024, 1500, 250, 3000)}))
        dev = (("device", "sda"),)
        assert rows[("node_disk_reads_completed_total", dev)] == 1
        assert rows[("node_disk_written_bytes_total", dev)] == 1024
        assert rows[("node_disk_read_time_seconds_total", dev)] == pytest.approx(1.5)
        assert rows[("node_disk_write_time_seconds_total", dev)] == pytest.approx(0.25)
        assert rows[("node_disk_io_time_seconds_total", dev)] == pytest.approx(3.0)
        assert len(rows) == 7

    def test_loop_and_ram_devices_are_skipped_partitions_kept(self) -> None:
        io = DiskIO(*([0] * 7))
        names = ["loop0", "loop12p1", "ram0", "zram0", "sda", "sda1", "nvme0n1", "nvme0n1p2"]
        rows = rows_from_disk_counters(dict.fromkeys(names, io))
        devices = {dict(labels)["device"] for _, labels, _ in rows}
        assert devices == {"sda", "sda1", "nvme0n1", "nvme0n1p2"}

    def test_missing_busy_time_is_skipped(self) -> None:
        bsd = SimpleNamespace(
            read_count=1, write_count=1, read_bytes=1, write_bytes=1, read_time=1, write_time=1
        )
        metrics = {m for m, _, _ in rows_from_disk_counters({"ada0": bsd})}
        assert "node_disk_io_time_seconds_total" not in metrics
        assert len(metrics) == 6


NetIO = namedtuple(
    "NetIO", "bytes_sent bytes_recv packets_sent packets_recv errin errout dropin dropout"
)


class TestNetwork:
    def test_directions_map_to_node_exporter_names(self) -> None:
        rows = as_dict(rows_from_net_counters({"eth0": NetIO(1, 2, 3, 4, 5, 6, 7, 8)}))
        dev = (("device", "eth0"),)
        assert rows == {
            ("node_network_transmit_bytes_total", dev): 1,
            ("node_network_receive_bytes_total", dev): 2,
            ("node_network_transmit_packets_total", dev): 3,
            ("node_network_receive_packets_total", dev): 4,
            ("node_network_receive_errs_total", dev): 5,
            ("node_network_transmit_errs_total", dev): 6,
            ("node_network_receive_drop_total", dev): 7,
            ("node_network_transmit_drop_total", dev): 8,
        }

    def test_loopback_only_when_asked(self) -> None:
        nics = {"lo": NetIO(*range(8)), "eth0": NetIO(*range(8))}
        without = {dict(labels)["device"] for _, labels, _ in rows_from_net_counters(nics)}
        with_lo = {
            dict(labels)["device"]
            for _, labels, _ in rows_from_net_counters(nics, include_loopback=True)
        }
        assert without == {"eth0"}
        assert with_lo == {"lo", "eth0"}


class TestAgentSelf:
    def test_cpu_is_user_plus_system(self) -> None:
        rows = as_dict(rows_from_self(SimpleNamespace(user=1.25, system=0.5), 1234))
        assert rows == {
            ("hostvitals_agent_cpu_seconds_total", ()): 1.75,
            ("hostvitals_agent_resident_memory_bytes", ()): 1234,
        }

    def test_resident_memory_from_statm(self) -> None:
        assert rss_from_statm("5826 2914 1407 1 0 3309 0\n", 4096) == 2914 * 4096

    def test_own_memory_does_not_depend_on_the_host_procfs(self) -> None:
        rows = as_dict(AgentSelfSampler().collect())
        rss = rows[("hostvitals_agent_resident_memory_bytes", ())]
        assert rss == pytest.approx(psutil.Process().memory_info().rss, rel=0.2)

    def test_sources_are_appended(self) -> None:
        extra = ("hostvitals_agent_frames_sent_total", (), 3)
        sampler = AgentSelfSampler([lambda: [extra]])
        rows = sampler.collect()
        assert rows[-1] == extra
        assert {m for m, _, _ in rows} >= {
            "hostvitals_agent_cpu_seconds_total",
            "hostvitals_agent_resident_memory_bytes",
        }
