"""Series budgets per host (whichever agent ids send them) and for the whole fleet."""

from __future__ import annotations

import pytest

from hostvitals.collector.ingest.hostbudget import HostSeriesBudget
from hostvitals.collector.ingest.validate import PolicyError
from hostvitals.shared.protocol import SeriesKey, series_key


def keys(first: int, count: int, metric: str = "m") -> list[SeriesKey]:
    return [series_key(metric, {"i": str(i)}) for i in range(first, first + count)]


def test_rotating_agent_ids_share_the_hosts_budget() -> None:
    budget = HostSeriesBudget(per_host=10, total=1000, ttl_s=100)
    budget.admit("real", "h", keys(0, 6), now=0)
    budget.admit("rot-1", "h", keys(6, 4), now=1)
    with pytest.raises(PolicyError) as refused:
        budget.admit("rot-2", "h", keys(10, 1), now=2)
    assert refused.value.reason == "too_many_series_for_host"
    assert "host 'h' (agent 'rot-2') would have 11 series in use; the limit is 10" in str(
        refused.value
    )
    assert "limits.max_series_per_host" in str(refused.value)
    # The host's known series keep flowing, from any of its agents.
    budget.admit("real", "h", keys(0, 10), now=3)
    assert budget.in_use("h") == 10
    # Another host has a budget of its own.
    budget.admit("other", "h2", keys(0, 10), now=3)


def test_a_refused_frame_counts_nothing() -> None:
    budget = HostSeriesBudget(per_host=3, total=1000, ttl_s=100)
    budget.admit("a", "h", keys(0, 2), now=0)
    with pytest.raises(PolicyError):
        budget.admit("a", "h", keys(0, 4), now=1)
    assert budget.in_use("h") == 2
    assert budget.total() == 2
    with pytest.raises(PolicyError):
        budget.admit("a", "new-host", keys(0, 4), now=1)
    assert budget.hosts() == 1


def test_unused_series_stop_counting() -> None:
    budget = HostSeriesBudget(per_host=2, total=1000, ttl_s=10)
    a, b, c = keys(0, 3)
    budget.admit("x", "h", [a, b], now=0)
    with pytest.raises(PolicyError):
        budget.admit("x", "h", [c], now=5)
    budget.admit("x", "h", [b], now=8)
    budget.admit("x", "h", [c], now=12)  # a expired
    assert budget.in_use("h") == 2
    assert budget.total() == 2


def test_a_new_host_beyond_the_fleet_budget_is_refused_and_the_others_keep_flowing() -> None:
    budget = HostSeriesBudget(per_host=10, total=25, ttl_s=100)
    for n in range(3):
        budget.admit("a", f"h{n}", keys(0, 8), now=0)
    with pytest.raises(PolicyError) as refused:
        budget.admit("a", "h3", keys(0, 2), now=1)
    assert refused.value.reason == "too_many_series_in_fleet"
    assert "a host not seen yet 'h3' would take the fleet to 26 series in use; the limit is 25" in (
        str(refused.value)
    )
    assert "limits.max_series_total" in str(refused.value)
    for n in range(3):  # the known hosts' series keep flowing
        budget.admit("a", f"h{n}", keys(0, 8), now=2)
    budget.admit("a", "h0", keys(8, 1), now=2)  # room for one more series
    assert budget.total() == 25
    assert budget.hosts() == 3


def test_the_fleet_budget_frees_up_as_series_expire() -> None:
    budget = HostSeriesBudget(per_host=10, total=16, ttl_s=10)
    budget.admit("a", "h0", keys(0, 8), now=0)
    budget.admit("a", "h1", keys(0, 8), now=0)
    with pytest.raises(PolicyError):
        budget.admit("a", "h2", keys(0, 8), now=5)
    budget.admit("a", "h1", keys(0, 8), now=8)
    budget.admit("a", "h2", keys(0, 8), now=12)  # h0's series expired
    assert budget.total() == 16
    budget.admit("a", "h2", keys(0, 8), now=200)  # h1 is forgotten altogether
    assert budget.hosts() == 1
    assert budget.total() == 8
