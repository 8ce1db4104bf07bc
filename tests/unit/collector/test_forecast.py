"""The fleet page's disk forecast: the query, the soonest filesystem per host, the cache."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from hostvitals.collector.live.forecast import DiskForecast, forecast_query, soonest
from hostvitals.collector.vm.errors import BackendUnavailable
from hostvitals.collector.vm.reader import InstantSample


def sample(host: str, mount: str, seconds: float) -> InstantSample:
    return InstantSample({"host": host, "mountpoint": mount, "device": "/dev/x"}, 0.0, seconds)


def test_the_query_is_the_disk_filling_up_rule_with_time_left() -> None:
    expr = forecast_query("tmpfs|overlay")
    assert 'node_filesystem_avail_bytes{fstype!~"tmpfs|overlay"}' in expr
    assert "predict_linear(" in expr and "[6h], 86400) < 0" in expr
    assert "offset 1h" in expr  # at least an hour of history
    assert "/ -deriv(" in expr


def test_soonest_keeps_the_first_full_filesystem_of_each_host() -> None:
    got = soonest(
        [
            sample("a", "/", 7200),
            sample("a", "/var", 600),
            sample("b", "/data", 90_000),  # beyond a day: not shown
            sample("c", "/", 10),
        ]
    )
    assert got == {
        "a": {"mountpoint": "/var", "device": "/dev/x", "full_in_s": 600},
        "c": {"mountpoint": "/", "device": "/dev/x", "full_in_s": 10},
    }


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_reads_are_answered_from_the_cache_and_refresh_once_per_period() -> None:
    clock = Clock()
    asked: list[str] = []
    pending: list[Callable[[], None]] = []
    answer = [sample("a", "/", 60)]

    def query(expr: str) -> list[InstantSample]:
        asked.append(expr)
        return answer

    forecast = DiskForecast(query, "tmpfs", refresh_s=300, clock=clock, spawn=pending.append)
    assert forecast.forecasts() == {}  # nothing kept yet: answered at once, refresh started
    assert forecast.forecasts() == {}  # a refresh runs: no second one
    assert len(pending) == 1 and asked == []
    pending.pop()()
    assert forecast.forecasts()["a"]["full_in_s"] == 60
    clock.now = 299
    assert forecast.forecasts()["a"]["mountpoint"] == "/"
    assert pending == [] and len(asked) == 1
    clock.now = 300
    answer = []
    forecast.forecasts()
    pending.pop()()
    assert forecast.forecasts() == {}


@pytest.mark.parametrize("error", [BackendUnavailable("down"), ValueError("a bug")])
def test_a_failed_refresh_keeps_the_last_answer(error: Exception) -> None:
    clock = Clock()
    pending: list[Callable[[], None]] = []
    results: list[list[InstantSample] | Exception] = [[sample("a", "/", 60)]]

    def query(_expr: str) -> list[InstantSample]:
        result = results.pop(0)
        if isinstance(result, Exception):
            raise result
        return result

    forecast = DiskForecast(query, "tmpfs", refresh_s=10, clock=clock, spawn=pending.append)
    forecast.forecasts()
    pending.pop()()
    clock.now = 10
    results.append(error)
    forecast.forecasts()
    pending.pop()()
    assert forecast.failures == 1
    assert forecast.forecasts()["a"]["full_in_s"] == 60
