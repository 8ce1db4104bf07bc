"""Registry: timing, failure isolation, slow samplers, per-sampler intervals."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from hostvitals.agent.registry import Registry, Scheduled
from hostvitals.agent.samplers.base import Row


class Fixed:
    def __init__(self, name: str, rows: list[Row]) -> None:
        self.name = name
        self.rows = rows
        self.calls = 0

    def collect(self) -> list[Row]:
        self.calls += 1
        return list(self.rows)


class Failing:
    name = "broken"

    def __init__(self) -> None:
        self.calls = 0

    def collect(self) -> list[Row]:
        self.calls += 1
        raise OSError("cannot read /proc/stat")


class Blocking:
    """Blocks until released; counts how often it was started."""

    name = "slow"

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = 0
        self.finished = threading.Event()

    def collect(self) -> list[Row]:
        self.started += 1
        self.release.wait(10)
        self.finished.set()
        return [("node_load1", (), 1.0)]


LOAD: Row = ("node_load1", (), 0.5)
MEM: Row = ("node_memory_MemTotal_bytes", (), 1024)


@pytest.fixture
def close_after() -> Iterator[list[Registry]]:
    registries: list[Registry] = []
    yield registries
    for registry in registries:
        registry.close()


async def test_rows_of_all_samplers_in_order(close_after: list[Registry]) -> None:
    registry = Registry([Fixed("load", [LOAD]), Fixed("memory", [MEM])])
    close_after.append(registry)
    assert await registry.collect(1000, 5.0) == [LOAD, MEM]


async def test_each_run_is_timed(close_after: list[Registry]) -> None:
    ticks = iter([10.0, 10.25, 20.0, 20.5])
    lock = threading.Lock()

    def timer() -> float:
        with lock:
            return next(ticks)

    # one worker so the fake timer's readings pair up per sampler
    registry = Registry(
        [Fixed("load", [LOAD]), Failing()], executor=ThreadPoolExecutor(1), timer=timer
    )
    close_after.append(registry)
    await registry.collect(0, 5.0)
    stats = {(m, labels): v for m, labels, v in registry.stats_rows()}
    assert stats == {
        ("hostvitals_agent_sampler_duration_seconds", (("sampler", "load"),)): 0.25,
        ("hostvitals_agent_sampler_errors_total", (("sampler", "load"),)): 0,
        ("hostvitals_agent_sampler_duration_seconds", (("sampler", "broken"),)): 0.5,
        ("hostvitals_agent_sampler_errors_total", (("sampler", "broken"),)): 1,
        ("hostvitals_agent_sampler_missed_total", (("sampler", "load"),)): 0,
        ("hostvitals_agent_sampler_missed_total", (("sampler", "broken"),)): 0,
    }


async def test_a_failing_sampler_is_counted_logged_once_and_isolated(
    close_after: list[Registry], caplog: pytest.LogCaptureFixture
) -> None:
    failing = Failing()
    registry = Registry([failing, Fixed("load", [LOAD])])
    close_after.append(registry)
    with caplog.at_level(logging.ERROR, logger="hostvitals.agent.registry"):
        for tick in range(5):
            assert await registry.collect(tick * 1000, 5.0) == [LOAD]
    assert failing.calls == 5
    assert registry.errors() == {"broken": 5, "load": 0}
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["sampler broken failed: OSError: cannot read /proc/stat"]


async def test_a_slow_sampler_does_not_hold_the_tick_and_is_not_started_twice(
    close_after: list[Registry],
) -> None:
    slow = Blocking()
    fast = Fixed("load", [LOAD])
    registry = Registry([slow, fast])
    close_after.append(registry)
    try:
        assert await registry.collect(0, 0.05) == [LOAD]
        assert registry.missed()["slow"] == 1
        assert await registry.collect(1000, 0.05) == [LOAD]
        assert slow.started == 1  # still running: not started again
        assert registry.missed()["slow"] == 2
        assert fast.calls == 2
    finally:
        slow.release.set()
    await asyncio.to_thread(slow.finished.wait, 10)
    rows: list[Row] = []
    for attempt in range(100):  # its result reaches the loop a moment after the thread ends
        rows = await registry.collect(2000 + attempt * 1000, 5.0)
        if slow.started == 2:
            break
        await asyncio.sleep(0.01)
    assert slow.started == 2
    assert ("node_load1", (), 1.0) in rows


async def test_slower_samplers_run_on_wall_clock_multiples_of_their_interval(
    close_after: list[Registry],
) -> None:
    procs = Fixed("processes", [])
    every_tick = Fixed("load", [])
    registry = Registry([Scheduled(procs, every_s=5), every_tick])
    close_after.append(registry)
    ran_at = []
    for second in range(3, 17):
        before = procs.calls
        await registry.collect(second * 1000, 5.0)
        if procs.calls > before:
            ran_at.append(second)
    assert ran_at == [3, 5, 10, 15]  # the first tick, then each new 5 s period
    assert every_tick.calls == 14
    await registry.collect(16_000, 5.0, force=True)
    assert procs.calls == 5


async def test_a_skipped_boundary_still_runs_in_the_next_period(
    close_after: list[Registry],
) -> None:
    procs = Fixed("processes", [])
    registry = Registry([Scheduled(procs, every_s=5)])
    close_after.append(registry)
    for second in (4, 6, 7, 11):  # 5 and 10 were skipped ticks
        await registry.collect(second * 1000, 5.0)
    assert procs.calls == 3  # at 4, at 6 (new period), at 11


def test_sampler_names_must_be_unique() -> None:
    with pytest.raises(ValueError, match="unique"):
        Registry([Fixed("a", []), Fixed("a", [])])
