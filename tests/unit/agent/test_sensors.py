"""Temperatures: names on literal inputs, and the fixture sysfs tree (three hwmon chips,
two thermal zones and a cooling device that is not a zone)."""

from __future__ import annotations

import errno
import logging
from pathlib import Path

import pytest

from hostvitals.agent.samplers.paths import HostPaths, read_small
from hostvitals.agent.samplers.sensors import (
    SensorsSampler,
    chip_name,
    clean_name,
    discover,
    millidegrees,
)

SYSFS = Path(__file__).resolve().parents[2] / "fixtures" / "sysfs"
FIXTURE = HostPaths(sysfs=SYSFS)


def chip(name: str, sensor: str) -> tuple[tuple[str, str], ...]:
    return (("chip", name), ("sensor", sensor))


def test_clean_name_keeps_what_a_label_value_may_hold() -> None:
    assert clean_name("Platform coretemp.0\n") == "platform_coretemp_0"
    assert clean_name("0000:3d:00.0") == "0000:3d:00_0"
    assert clean_name("..") == ""


def test_millidegrees_to_degrees_and_garbage_to_none() -> None:
    assert millidegrees("45500\n") == 45.5
    assert millidegrees("-2000") == -2.0
    assert millidegrees("garbage\n") is None
    assert millidegrees("") is None


def test_chip_name_prefers_the_device_path_then_the_name_file(tmp_path: Path) -> None:
    hwmon = SYSFS / "class" / "hwmon"
    assert chip_name(hwmon / "hwmon1") == "platform_coretemp_0"
    assert chip_name(hwmon / "hwmon2") == "nvme_nvme0"
    assert chip_name(hwmon / "hwmon0") == "acpitz"  # no device link: its name file
    bare = tmp_path / "hwmon7"
    bare.mkdir()
    assert chip_name(bare) == "hwmon7"  # neither: its directory


def test_the_fixture_tree_gives_node_exporters_series() -> None:
    rows = SensorsSampler(FIXTURE).collect()
    temps = {labels: value for metric, labels, value in rows if metric == "node_hwmon_temp_celsius"}
    assert temps == {
        chip("acpitz", "temp1"): 27.8,
        chip("platform_coretemp_0", "temp1"): 45.5,
        chip("platform_coretemp_0", "temp2"): 43.0,
        chip("platform_coretemp_0", "temp10"): 41.0,
        chip("nvme_nvme0", "temp1"): 38.85,  # temp2 reads "garbage" and is left out
    }
    by_metric = {(metric, labels): value for metric, labels, value in rows}
    assert by_metric[("node_hwmon_temp_crit_celsius", chip("platform_coretemp_0", "temp1"))] == 100
    assert by_metric[("node_hwmon_temp_max_celsius", chip("nvme_nvme0", "temp1"))] == 84.85
    assert ("node_hwmon_temp_max_celsius", chip("platform_coretemp_0", "temp2")) not in by_metric
    label = (*chip("platform_coretemp_0", "temp1"), ("label", "Package id 0"))
    assert by_metric[("node_hwmon_sensor_label", label)] == 1
    zones = {labels: value for metric, labels, value in rows if metric == "node_thermal_zone_temp"}
    assert zones == {
        (("type", "acpitz"), ("zone", "0")): 27.8,
        (("type", "x86_pkg_temp"), ("zone", "1")): 46.0,
    }


def test_channels_are_in_number_order() -> None:
    found = discover(FIXTURE)
    coretemp = [
        s.labels[1][1] for s in found.sensors if s.labels[0] == ("chip", "platform_coretemp_0")
    ]
    assert coretemp == ["temp1", "temp2", "temp10"]


def test_a_host_without_sensors_reports_nothing(tmp_path: Path) -> None:
    assert SensorsSampler(HostPaths(sysfs=tmp_path)).collect() == []


def test_a_sensor_that_fails_to_read_is_skipped_for_that_tick() -> None:
    failing = {SYSFS / "class" / "hwmon" / "hwmon0" / "temp1_input"}

    def read(path: Path) -> str:
        if path in failing:
            raise OSError(errno.ENODATA, "No data available")
        return read_small(path)

    sampler = SensorsSampler(FIXTURE, read)
    temps = [labels for metric, labels, _ in sampler.collect() if metric.endswith("temp_celsius")]
    assert chip("acpitz", "temp1") not in temps
    failing.clear()
    temps = [labels for metric, labels, _ in sampler.collect() if metric.endswith("temp_celsius")]
    assert chip("acpitz", "temp1") in temps


def test_the_tree_is_walked_once_then_only_inputs_are_read() -> None:
    reads: list[Path] = []

    def read(path: Path) -> str:
        reads.append(path)
        return read_small(path)

    sampler = SensorsSampler(FIXTURE, read, rediscover_every=3)
    sampler.collect()
    first = len(reads)
    reads.clear()
    sampler.collect()
    assert len(reads) < first
    assert all(p.name.endswith("_input") or p.name == "temp" for p in reads)
    reads.clear()
    sampler.collect()
    sampler.collect()  # the fourth collection looks again
    assert any(p.name == "name" or p.name.endswith("_label") for p in reads)


def test_at_most_max_sensors_are_reported_and_the_rest_said_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sampler = SensorsSampler(FIXTURE, max_sensors=2, rediscover_every=1)
    with caplog.at_level(logging.WARNING, logger="hostvitals.agent.samplers.sensors"):
        rows = sampler.collect()
        sampler.collect()
    assert (
        len([r for r in rows if r[0] in ("node_hwmon_temp_celsius", "node_thermal_zone_temp")]) == 2
    )
    warnings = [r.getMessage() for r in caplog.records]
    assert warnings == ["6 temperature sensors not reported: at most 2 are"]
