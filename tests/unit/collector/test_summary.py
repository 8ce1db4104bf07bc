"""Headline numbers derived from a host's newest values and rates."""

from __future__ import annotations

import pytest

from hostvitals.collector.live.current import SeriesPoint
from hostvitals.collector.live.summary import (
    CPU,
    RATE_SUMS,
    SUMMARY_KEYS,
    SUMMARY_METRICS,
    summarise,
)
from hostvitals.shared.catalogue import CATALOGUE, Kind


def gauge(metric: str, value: float, **labels: str) -> SeriesPoint:
    return SeriesPoint(metric, labels, 0, value, None)


def rate(metric: str, per_s: float | None, **labels: str) -> SeriesPoint:
    return SeriesPoint(metric, labels, 0, 1000, per_s)


def cpu(mode: str, per_s: float | None, core: str = "0") -> SeriesPoint:
    return rate("node_cpu_seconds_total", per_s, cpu=core, mode=mode)


def test_nothing_known_gives_nulls() -> None:
    summary = summarise([])
    assert list(summary) == list(SUMMARY_KEYS)
    assert set(summary.values()) == {None}


def test_cpu_usage_is_the_non_idle_share_of_all_modes() -> None:
    points = [cpu("idle", 0.5), cpu("user", 0.3), cpu("system", 0.2), cpu("idle", 1.0, "1")]
    assert summarise(points)["cpu_usage_ratio"] == pytest.approx(1 - 1.5 / 2.0)


def test_cpu_usage_needs_every_rate() -> None:
    assert summarise([cpu("idle", 0.5), cpu("user", None)])["cpu_usage_ratio"] is None
    assert summarise([cpu("idle", 0.0), cpu("user", 0.0)])["cpu_usage_ratio"] is None


def test_memory_swap_and_load() -> None:
    points = [
        gauge("node_memory_MemTotal_bytes", 8),
        gauge("node_memory_MemAvailable_bytes", 6),
        gauge("node_memory_SwapTotal_bytes", 4),
        gauge("node_memory_SwapFree_bytes", 1),
        gauge("node_load1", 1.5),
        gauge("node_load5", 0.5),
        gauge("node_load15", 0.25),
    ]
    summary = summarise(points)
    assert summary["memory_used_ratio"] == 0.25
    assert summary["swap_used_ratio"] == 0.75
    assert (summary["load1"], summary["load5"], summary["load15"]) == (1.5, 0.5, 0.25)


def test_no_swap_is_zero_used() -> None:
    points = [gauge("node_memory_SwapTotal_bytes", 0), gauge("node_memory_SwapFree_bytes", 0)]
    assert summarise(points)["swap_used_ratio"] == 0.0


def fs(mountpoint: str, size: float, free: float, avail: float) -> list[SeriesPoint]:
    labels = {"device": "d" + mountpoint, "mountpoint": mountpoint, "fstype": "ext4"}
    return [
        gauge("node_filesystem_size_bytes", size, **labels),
        gauge("node_filesystem_free_bytes", free, **labels),
        gauge("node_filesystem_avail_bytes", avail, **labels),
    ]


def test_fullest_filesystem_as_df_counts_it() -> None:
    points = fs("/", 100, 40, 30) + fs("/data", 100, 90, 90) + fs("/empty", 0, 0, 0)
    # df: used = size - free = 60; used / (used + avail) = 60 / 90
    assert summarise(points)["filesystem_max_used_ratio"] == pytest.approx(60 / 90)


def test_byte_rates_sum_over_devices() -> None:
    points = [
        rate("node_network_receive_bytes_total", 100, device="eth0"),
        rate("node_network_receive_bytes_total", 50, device="eth1"),
        rate("node_network_transmit_bytes_total", None, device="eth0"),
        rate("node_disk_read_bytes_total", 4096, device="sda"),
        rate("node_disk_written_bytes_total", 0, device="sda"),
    ]
    summary = summarise(points)
    assert summary["network_receive_bytes_per_second"] == 150
    assert summary["network_transmit_bytes_per_second"] is None
    assert summary["disk_read_bytes_per_second"] == 4096
    assert summary["disk_written_bytes_per_second"] == 0


def test_it_reads_catalogued_series_of_the_right_kind() -> None:
    assert SUMMARY_METRICS.issubset(CATALOGUE)
    for metric in (CPU, *RATE_SUMS.values()):  # rates are taken of counters only
        assert CATALOGUE[metric].kind is Kind.COUNTER, metric


def test_it_gives_the_same_numbers_from_its_own_series_alone() -> None:
    """Every series it names changes an answer, and one it does not name changes none."""
    full = [
        cpu("idle", 0.5),
        cpu("user", 0.5),
        gauge("node_memory_MemTotal_bytes", 100),
        gauge("node_memory_MemAvailable_bytes", 25),
        gauge("node_memory_SwapTotal_bytes", 10),
        gauge("node_memory_SwapFree_bytes", 5),
        gauge("node_load1", 1),
        gauge("node_load5", 2),
        gauge("node_load15", 3),
        gauge("node_filesystem_size_bytes", 100, mountpoint="/"),
        gauge("node_filesystem_free_bytes", 40, mountpoint="/"),
        gauge("node_filesystem_avail_bytes", 30, mountpoint="/"),
        *(rate(metric, 7.0, device="d0") for metric in RATE_SUMS.values()),
    ]
    assert {p.metric for p in full} == SUMMARY_METRICS
    answer = summarise(full)
    assert None not in answer.values()
    assert summarise([*full, gauge("node_memory_Cached_bytes", 50)]) == answer
    for metric in SUMMARY_METRICS:
        without = summarise([p for p in full if p.metric != metric])
        assert without != answer, f"{metric} is listed but changes nothing"
