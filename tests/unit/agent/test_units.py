"""Systemd units: the parse on literal ``systemctl`` output, what is reported, and a host
where systemd is not the init system."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from hostvitals.agent.samplers.paths import HostPaths
from hostvitals.agent.samplers.units import (
    STATE,
    UNITS,
    Unit,
    UnitsSampler,
    parse_units,
    rows_from_units,
)

LIST_UNITS = """\
proc-sys-fs-binfmt_misc.automount loaded active   waiting Arbitrary Executable File Formats
dev-vda1.device                   loaded active   plugged /dev/vda1
-.mount                           loaded active   mounted Root Mount
nginx.service                     loaded failed   failed  A high performance web server
postgresql@15-main.service        loaded activating start PostgreSQL Cluster 15-main
ssh.service                       loaded active   running OpenBSD Secure Shell server
ghost.service                     not-found inactive dead ghost.service
backup.timer                      loaded active   waiting Nightly backup
"""


def state_rows(rows: list[tuple[str, tuple[tuple[str, str], ...], float]]) -> list[dict[str, str]]:
    return [dict(labels) for metric, labels, _ in rows if metric == STATE]


def test_parse_reads_the_four_columns_and_keeps_descriptions_out() -> None:
    units = parse_units(LIST_UNITS + "\n8 loaded units listed.\n")
    assert len(units) == 8
    assert units[3] == Unit("nginx.service", "loaded", "failed", "failed")
    assert units[4].name == "postgresql@15-main.service" and units[4].type == "service"
    assert units[2].name == "-.mount" and units[2].type == "mount"
    # A bullet some versions print before failed units, even with --plain.
    assert parse_units("● x.service loaded failed failed X\n")[0].name == "x.service"


def test_failed_and_activating_units_are_reported_with_counts_per_state() -> None:
    rows = rows_from_units(parse_units(LIST_UNITS), all_units=False)
    assert state_rows(rows) == [
        {"name": "nginx.service", "state": "failed", "type": "service"},
        {"name": "postgresql@15-main.service", "state": "activating", "type": "service"},
    ]
    counts = {dict(labels)["state"]: value for metric, labels, value in rows if metric == UNITS}
    assert counts == {
        "active": 5,
        "reloading": 0,
        "inactive": 1,
        "failed": 1,
        "activating": 1,
        "deactivating": 0,
    }


def test_all_units_adds_every_loaded_one_and_the_limit_keeps_failed_first() -> None:
    units = parse_units(LIST_UNITS)
    every = state_rows(rows_from_units(units, all_units=True))
    assert len(every) == 7  # ghost.service is not loaded
    assert [r["name"] for r in state_rows(rows_from_units(units, all_units=True, limit=1))] == [
        "nginx.service"
    ]


def booted(tmp_path: Path) -> HostPaths:
    (tmp_path / "run" / "systemd" / "system").mkdir(parents=True)
    return HostPaths(rootfs=tmp_path)


def test_the_sampler_runs_systemctl_on_a_systemd_host(tmp_path: Path) -> None:
    calls: list[int] = []

    def run() -> str:
        calls.append(1)
        return LIST_UNITS

    sampler = UnitsSampler(booted(tmp_path), run=run)
    assert state_rows(sampler.collect())[0]["name"] == "nginx.service"
    assert calls == [1]


def test_without_systemd_as_init_it_says_so_once_and_reports_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def run() -> str:
        raise AssertionError("systemctl must not be run")

    sampler = UnitsSampler(HostPaths(rootfs=tmp_path), run=run)
    with caplog.at_level(logging.INFO, logger="hostvitals.agent.samplers.units"):
        assert sampler.collect() == []
        assert sampler.collect() == []
    assert [r.getMessage() for r in caplog.records] == [
        "systemd units not reported: systemd is not the init system"
    ]


def test_too_many_units_are_said_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    many = "".join(f"u{i}.service loaded failed failed U\n" for i in range(250))
    sampler = UnitsSampler(booted(tmp_path), run=lambda: many)
    with caplog.at_level(logging.WARNING, logger="hostvitals.agent.samplers.units"):
        assert len(state_rows(sampler.collect())) == 200
        sampler.collect()
    assert [r.getMessage() for r in caplog.records] == [
        "50 systemd units not reported: at most 200 are"
    ]
