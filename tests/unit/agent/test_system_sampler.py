"""Kernel counters: ``/proc/stat``, ``file-nr`` and ``entropy_avail`` on literal contents."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from hostvitals.agent.samplers.paths import HostPaths
from hostvitals.agent.samplers.system import (
    SystemSampler,
    parse_entropy_avail,
    parse_file_nr,
    parse_stat,
    rows_from_file_nr,
    rows_from_stat,
)

STAT = """\
cpu  10132153 290696 3084719 46828483 16683 0 25195 0 0 0
cpu0 1393280 32966 572056 13343292 6130 0 17875 0 0 0
intr 8885917 17 0 0 0 0 0 0 0 1 79281
ctxt 38014093
btime 1718000000
processes 26442
procs_running 3
procs_blocked 1
softirq 5057579 250191 1481983 1647 211099 186066 0 1783454 622196 12499 508444
"""

# A 2.4-era /proc/stat: no procs_running / procs_blocked, and an intr line of one number.
OLD_STAT = """\
cpu  1 2 3 4
intr 120
ctxt 900
btime 1000000000
processes 77
"""


def test_stat_takes_the_first_number_of_each_known_line() -> None:
    assert parse_stat(STAT) == {
        "intr": 8885917,
        "ctxt": 38014093,
        "btime": 1718000000,
        "processes": 26442,
        "procs_running": 3,
        "procs_blocked": 1,
    }


def test_stat_rows_under_node_exporters_names() -> None:
    assert rows_from_stat(parse_stat(STAT)) == [
        ("node_boot_time_seconds", (), 1718000000),
        ("node_context_switches_total", (), 38014093),
        ("node_intr_total", (), 8885917),
        ("node_forks_total", (), 26442),
        ("node_procs_running", (), 3),
        ("node_procs_blocked", (), 1),
    ]


def test_stat_without_the_optional_lines_reports_what_is_there() -> None:
    rows = dict((metric, value) for metric, _, value in rows_from_stat(parse_stat(OLD_STAT)))
    assert rows == {
        "node_boot_time_seconds": 1000000000,
        "node_context_switches_total": 900,
        "node_intr_total": 120,
        "node_forks_total": 77,
    }


def test_stat_skips_malformed_lines() -> None:
    assert parse_stat("ctxt\nbtime soon\nprocesses 5 6\n") == {"processes": 5}


def test_file_nr_is_allocated_and_maximum() -> None:
    assert parse_file_nr("9344\t0\t9223372036854775807\n") == (9344, 9223372036854775807)
    assert rows_from_file_nr(1608, 2466165) == [
        ("node_filefd_allocated", (), 1608),
        ("node_filefd_maximum", (), 2466165),
    ]


def test_a_file_nr_of_another_shape_is_an_error() -> None:
    with pytest.raises(ValueError, match="expected 3"):
        parse_file_nr("12 34\n")


def test_entropy_available() -> None:
    assert parse_entropy_avail("256\n") == 256


def test_missing_optional_files_are_said_once_and_left_out(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "stat").write_text(STAT)
    sampler = SystemSampler(HostPaths(procfs=tmp_path))
    with caplog.at_level(logging.INFO, logger="hostvitals.agent.samplers.system"):
        first = sampler.collect()
        second = sampler.collect()
    assert first == second == rows_from_stat(parse_stat(STAT))
    assert len([r for r in caplog.records if "does not exist" in r.getMessage()]) == 2


def test_a_missing_proc_stat_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        SystemSampler(HostPaths(procfs=tmp_path)).collect()
