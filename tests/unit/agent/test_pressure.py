"""Pressure stall information: the parse on literal file contents, and a kernel without PSI."""

from __future__ import annotations

import errno
import logging
from pathlib import Path

import pytest

from hostvitals.agent.samplers.paths import HostPaths
from hostvitals.agent.samplers.pressure import (
    PressureSampler,
    parse_pressure,
    rows_from_pressure,
)

IO = (
    "some avg10=0.40 avg60=0.31 avg300=0.12 total=80652922\n"
    "full avg10=0.20 avg60=0.17 avg300=0.06 total=59114317\n"
)


def test_parse_takes_the_total_of_some_and_full() -> None:
    assert parse_pressure(IO) == {"some": 80652922, "full": 59114317}


def test_parse_an_old_cpu_file_with_only_some() -> None:
    # Kernels before 5.13 print no "full" line for cpu.
    assert parse_pressure("some avg10=1.52 avg60=0.87 avg300=0.41 total=2231530\n") == {
        "some": 2231530
    }


def test_parse_ignores_lines_without_a_numeric_total() -> None:
    text = "some avg10=0.00 avg60=0.00\nfull total=abc\n\nnonsense\nfull total=5\n"
    assert parse_pressure(text) == {"full": 5}


def test_rows_are_seconds_under_node_exporters_names() -> None:
    rows = rows_from_pressure("io", parse_pressure(IO))
    assert rows == [
        ("node_pressure_io_waiting_seconds_total", (), 80.652922),
        ("node_pressure_io_stalled_seconds_total", (), 59.114317),
    ]


def test_the_cpu_full_line_is_not_reported() -> None:
    rows = rows_from_pressure("cpu", {"some": 2_000_000, "full": 7})
    assert rows == [("node_pressure_cpu_waiting_seconds_total", (), 2.0)]


def test_a_kernel_without_psi_files_is_said_once_and_reports_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "stat").write_text("ctxt 1\n")  # a procfs, but no pressure/ directory
    sampler = PressureSampler(HostPaths(procfs=tmp_path))
    with caplog.at_level(logging.INFO, logger="hostvitals.agent.samplers.pressure"):
        assert sampler.collect() == []
        assert sampler.collect() == []
        assert sampler.collect() == []
    said = [r for r in caplog.records if "pressure stall information" in r.getMessage()]
    assert len(said) == 1
    assert str(tmp_path / "pressure" / "cpu") in said[0].getMessage()
    assert sampler.resources == ()


def test_psi_disabled_at_boot_answers_eopnotsupp_and_is_said_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    reads: list[Path] = []

    def refuse(path: Path) -> str:
        reads.append(path)
        raise OSError(errno.EOPNOTSUPP, "Operation not supported", str(path))

    sampler = PressureSampler(HostPaths(procfs=Path("/nowhere")), read=refuse)
    with caplog.at_level(logging.INFO, logger="hostvitals.agent.samplers.pressure"):
        assert sampler.collect() == []
        assert sampler.collect() == []
    assert len(reads) == 3, "each file is tried once, never again"
    assert len([r for r in caplog.records if "psi=0" in r.getMessage()]) == 1


def test_one_resource_without_psi_leaves_the_others(tmp_path: Path) -> None:
    (tmp_path / "pressure").mkdir()
    (tmp_path / "pressure" / "io").write_text(IO)
    (tmp_path / "pressure" / "memory").write_text(IO)
    sampler = PressureSampler(HostPaths(procfs=tmp_path))
    assert len(sampler.collect()) == 4
    assert sampler.resources == ("io", "memory")
    assert len(sampler.collect()) == 4


def test_other_read_errors_are_raised_every_time() -> None:
    def denied(path: Path) -> str:
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    sampler = PressureSampler(read=denied)
    for _ in range(2):
        with pytest.raises(PermissionError):
            sampler.collect()
    assert sampler.resources == ("cpu", "io", "memory")
