"""What a host is, from its info series; agent versions against the collector's."""

from __future__ import annotations

import pytest

from hostvitals.collector.live.current import SeriesPoint
from hostvitals.collector.live.inventory import inventory, is_older


def info(metric: str, ts: int = 1, value: float = 1, **labels: str) -> SeriesPoint:
    return SeriesPoint(metric, labels, ts, value, None)


def test_inventory_reads_the_info_series() -> None:
    points = [
        info("node_os_info", id="debian", pretty_name="Debian GNU/Linux 13 (trixie)"),
        info("node_uname_info", release="6.1.0-9-amd64", sysname="Linux"),
        info("hostvitals_cpu_info", model_name="AMD EPYC 7B13", vendor="AuthenticAMD"),
        info("hostvitals_agent_build_info", ts=1, version="0.0.9"),
        info("hostvitals_agent_build_info", ts=5, version="0.1.0"),  # upgraded: newest wins
        info("node_boot_time_seconds", value=1_700_000_000),
        info("node_load1", value=3),
    ]
    got = inventory(points, "0.1.0")
    assert got == {
        "os": "Debian GNU/Linux 13 (trixie)",
        "kernel": "6.1.0-9-amd64",
        "cpu_model": "AMD EPYC 7B13",
        "agent_version": "0.1.0",
        "boot_time": 1_700_000_000.0,
        "agent_outdated": False,
    }


def test_a_host_without_info_series_has_none() -> None:
    got = inventory([info("node_load1")], "0.1.0")
    assert set(got.values()) == {None}


@pytest.mark.parametrize(
    ("agent", "collector", "older"),
    [
        ("0.1.0", "0.2.0", True),
        ("0.2.0", "0.1.0", False),
        ("0.1", "0.1.0", False),
        ("0.1.0", "0.1.0+local", False),
        ("0.9.9", "0.10.0", True),
        ("1.0.0rc1", "1.0.0", True),
        ("1.0.0", "1.0.0rc1", False),
        ("1.0.0a2", "1.0.0b1", True),
        ("v1.2.3", "1.2.4", True),
        ("0+unknown", "0.1.0", True),
        ("0.1.0", "0+unknown", None),  # a collector from a bare checkout knows no version
        ("unknown", "0.1.0", None),
    ],
)
def test_is_older(agent: str, collector: str, older: bool | None) -> None:
    assert is_older(agent, collector) is older
