"""The PromQL behind each metric family: host filtering, names and windows."""

from __future__ import annotations

import re

import pytest

from hostvitals.collector.query.queries import (
    FAMILIES,
    Family,
    family_queries,
    rate_window,
)
from tests.unit.collector.test_promql import literals, outside_literals

# A metric name and its matchers, if any.
SELECTOR = re.compile(
    r"\b(node_\w+|hostvitals_\w+|container_\w+|smartctl_\w+|DCGM_\w+)(\{[^}]*\}|)"
)

EXPECTED_NAMES = {
    "cpu": [
        "cpu_usage_ratio",
        "cpu_mode_ratio",
        "cpu_core_usage_ratio",
        "load1",
        "load5",
        "load15",
    ],
    "memory": [
        "memory_total_bytes",
        "memory_available_bytes",
        "memory_used_ratio",
        "memory_cached_bytes",
        "memory_buffers_bytes",
        "swap_used_ratio",
        "swap_in_bytes_per_second",
        "swap_out_bytes_per_second",
    ],
    "disk": [
        "read_bytes_per_second",
        "write_bytes_per_second",
        "reads_per_second",
        "writes_per_second",
        "io_utilisation_ratio",
        "filesystem_used_ratio",
        "filesystem_size_bytes",
        "filesystem_avail_bytes",
    ],
    "network": [
        "receive_bytes_per_second",
        "receive_packets_per_second",
        "receive_errors_per_second",
        "receive_drops_per_second",
        "transmit_bytes_per_second",
        "transmit_packets_per_second",
        "transmit_errors_per_second",
        "transmit_drops_per_second",
    ],
    "pressure": [
        "cpu_waiting_ratio",
        "memory_waiting_ratio",
        "memory_stalled_ratio",
        "io_waiting_ratio",
        "io_stalled_ratio",
    ],
    "system": [
        "context_switches_per_second",
        "interrupts_per_second",
        "forks_per_second",
        "procs_running",
        "procs_blocked",
        "filefd_allocated",
        "filefd_used_ratio",
        "tcp_established",
        "tcp_retransmits_per_second",
    ],
    "sensors": ["temperature_celsius", "thermal_zone_celsius"],
    "cgroups": [
        "cpu_cores",
        "memory_bytes",
        "working_set_bytes",
        "read_bytes_per_second",
        "write_bytes_per_second",
        "cpu_waiting_ratio",
        "memory_waiting_ratio",
        "io_waiting_ratio",
    ],
    "devices": [
        "disk_temperature_celsius",
        "disk_endurance_used_ratio",
        "gpu_utilisation_ratio",
        "gpu_memory_used_ratio",
        "gpu_temperature_celsius",
        "gpu_power_watts",
    ],
}


# -- windows ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("step", "interval", "expected"),
    [
        (1, 1.0, "2s"),
        (0.5, 1.0, "2s"),
        (2, 1.0, "2s"),
        (2.5, 1.0, "3s"),
        (15, 1.0, "15s"),
        (60, 1.0, "60s"),
        (3600, 1.0, "3600s"),
        (1, 10.0, "20s"),
        (60, 10.0, "60s"),
        (1, 0.25, "1s"),
    ],
)
def test_rate_window_is_the_step_but_at_least_two_samples(
    step: float, interval: float, expected: str
) -> None:
    assert rate_window(step, interval) == expected


@pytest.mark.parametrize("step", [0, -1, float("nan"), float("inf")])
def test_rate_window_refuses_bad_steps(step: float) -> None:
    with pytest.raises(ValueError, match="step must be a positive"):
        rate_window(step)


# -- families ---------------------------------------------------------------------------------


def test_families_are_the_documented_ones() -> None:
    assert FAMILIES == (
        "cpu",
        "memory",
        "disk",
        "network",
        "pressure",
        "system",
        "sensors",
        "cgroups",
        "devices",
    )
    assert set(EXPECTED_NAMES) == set(FAMILIES)


@pytest.mark.parametrize("family", FAMILIES)
def test_each_family_has_stable_unique_names(family: str) -> None:
    names = [q.name for q in family_queries(family, "web-1", 60)]
    assert names == EXPECTED_NAMES[family]
    assert family_queries(Family(family), "web-1", 60) == family_queries(family, "web-1", 60)


@pytest.mark.parametrize("family", FAMILIES)
def test_one_host_filters_every_selector(family: str) -> None:
    host = 'we"ird\\host\nname'
    for query in family_queries(family, host, 60):
        values = literals(query.expr)
        # Every selector is a metric name followed by matchers, and each names the host.
        selectors = SELECTOR.findall(outside_literals(query.expr))
        assert selectors, query
        assert all(matchers.startswith('{host=""') for _, matchers in selectors), query
        assert values.count(host) == len(selectors), query
        assert "\n" not in query.expr


@pytest.mark.parametrize("family", FAMILIES)
def test_every_host_means_no_host_matcher(family: str) -> None:
    for query in family_queries(family, None, 60):
        assert "host=" not in query.expr, query
        assert SELECTOR.search(query.expr), query


@pytest.mark.parametrize("family", FAMILIES)
def test_expressions_are_balanced(family: str) -> None:
    for query in family_queries(family, '(x]"{', 1):
        bare = outside_literals(query.expr)
        for left, right in ("()", "[]", "{}"):
            depth = 0
            for ch in bare:
                depth += (ch == left) - (ch == right)
                assert depth >= 0, query
            assert depth == 0, query


@pytest.mark.parametrize("step", [1, 7.5, 300])
def test_rates_use_the_window_for_the_step(step: float) -> None:
    window = rate_window(step)
    for family in FAMILIES:
        for query in family_queries(family, "web-1", step):
            ranges = re.findall(r"\[([^\]]+)\]", outside_literals(query.expr))
            assert ranges == [window] * query.expr.count("rate("), query
            assert ("rate(" in query.expr) == query.name.endswith(
                (
                    "_per_second",
                    "usage_ratio",
                    "mode_ratio",
                    "io_utilisation_ratio",
                    "ing_ratio",
                    "stalled_ratio",
                    "_cores",  # CPU seconds per second
                )
            ), query


def test_sample_interval_widens_the_window() -> None:
    (usage, *_) = family_queries("cpu", "web-1", 1, sample_interval_s=10)
    assert "[20s]" in usage.expr


def test_cpu_expressions() -> None:
    by_name = {q.name: q.expr for q in family_queries("cpu", "h", 30)}
    idle = 'rate(node_cpu_seconds_total{host="h",mode="idle"}[30s])'
    every = 'rate(node_cpu_seconds_total{host="h"}[30s])'
    assert by_name["cpu_usage_ratio"] == (
        f"clamp_min(clamp_max(1 - sum by (host) ({idle}) / sum by (host) ({every}), 1), 0)"
    )
    assert by_name["cpu_mode_ratio"] == (
        f"clamp_min(clamp_max(sum by (host, mode) ({every})"
        f" / on (host) group_left sum by (host) ({every}), 1), 0)"
    )
    assert by_name["cpu_core_usage_ratio"] == (
        "clamp_min(clamp_max("
        f"1 - sum by (host, cpu) ({idle}) / sum by (host, cpu) ({every}), 1), 0)"
    )
    assert by_name["load15"] == 'node_load15{host="h"}'


def test_ratios_guard_against_division_by_zero() -> None:
    memory = {q.name: q.expr for q in family_queries("memory", "h", 30)}
    assert memory["memory_used_ratio"] == (
        '1 - node_memory_MemAvailable_bytes{host="h"} / (node_memory_MemTotal_bytes{host="h"} > 0)'
    )
    assert memory["swap_used_ratio"] == (
        '1 - node_memory_SwapFree_bytes{host="h"} / (node_memory_SwapTotal_bytes{host="h"} > 0)'
    )
    disk = {q.name: q.expr for q in family_queries("disk", "h", 30)}
    assert disk["filesystem_used_ratio"] == (
        '1 - node_filesystem_avail_bytes{host="h"} / (node_filesystem_size_bytes{host="h"} > 0)'
    )


def test_unknown_family_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown metric family 'gpu'; valid families: cpu, "):
        family_queries("gpu", None, 60)
