"""The stall watch: late wake-ups of the loop with what it ran, and garbage-collector pauses."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
import weakref
from pathlib import Path

import pytest

from hostvitals.collector.runqueue import runqueue_clock
from hostvitals.collector.stallwatch import StallWatch, describe
from tests.support.collector_app import FakeVictoriaMetrics, serving, settings


def test_lags_are_counted_and_only_those_over_the_threshold_kept() -> None:
    watch = StallWatch(0.050)
    for lag in (0.0001, 0.004, 0.030, 0.080):
        watch.record_lag(lag)
    watch.record_lag(0.600, loop_cpu_s=0.590)
    report = watch.report()
    assert report["ticks"] == 5
    assert [(s["lag_ms"], s["loop_cpu_ms"]) for s in report["stalls"]] == [(80.0, 0), (600, 590)]
    histogram = report["lag_ms_histogram"]
    assert (histogram["<1"], histogram["<5"], histogram["<50"], histogram["<100"]) == (1, 1, 1, 1)
    assert histogram["<1000"] == 1
    assert watch.report(since=time.time() + 60)["stalls"] == []


def test_a_stall_says_how_long_the_loop_waited_for_a_core() -> None:
    watch = StallWatch(0.050)
    watch.record_lag(0.300, loop_cpu_s=0.020, loop_runqueue_s=0.250)
    (stall,) = watch.report()["stalls"]
    # 300 ms late: 20 computing, 250 runnable with no core free, the rest waiting (the
    # interpreter lock, or nothing to do).
    assert (stall["loop_cpu_ms"], stall["loop_runqueue_ms"]) == (20.0, 250.0)


def test_run_queue_time_is_the_second_field_of_schedstat(tmp_path: Path) -> None:
    stat = tmp_path / "schedstat"
    stat.write_text("123456789 2500000000 77\n")
    assert runqueue_clock(stat)() == 2.5
    assert runqueue_clock(tmp_path / "missing")() == 0.0  # not Linux: no figure, no failure


def test_the_run_queue_clock_reads_its_open_file_afresh_each_time(tmp_path: Path) -> None:
    stat = tmp_path / "schedstat"
    stat.write_text("1 1000000000 1\n")
    clock = runqueue_clock(stat)
    assert clock() == 1.0
    stat.write_text("1 3000000000 1\n")  # written in place: the same file the clock holds open
    assert clock() == 3.0
    clock.close()
    assert clock() == 0.0


def test_the_run_queue_clock_of_this_thread_moves_only_forward() -> None:
    clock = runqueue_clock()
    try:
        first = clock()
        sum(range(100_000))
        assert clock() >= first
    finally:
        clock.close()


async def test_the_running_watch_reads_the_loop_threads_run_queue_time() -> None:
    waited = [0.0]
    watch = StallWatch(0.010, tick_s=0.001, runqueue_clock=lambda: waited[0])
    watch.start()
    try:
        await asyncio.sleep(0.005)
        waited[0] += 1.0
        time.sleep(0.040)  # the loop is held
        await asyncio.sleep(0.005)
    finally:
        await watch.stop()
    assert any(s["loop_runqueue_ms"] == 1000.0 for s in watch.report()["stalls"])


def test_collections_are_counted_by_generation_and_long_ones_kept() -> None:
    watch = StallWatch(0.050, gc_threshold_s=0.010)
    watch.record_gc(0, 0.0005, 10, "MainThread", cpu_s=0.0004)
    watch.record_gc(2, 0.120, 3, "worker", cpu_s=0.030)
    report = watch.report()
    assert report["gc"]["0"] == {"collections": 1, "total_ms": 0.5, "cpu_ms": 0.4, "max_ms": 0.5}
    assert report["gc"]["2"]["max_ms"] == 120.0
    # 120 ms of wall time, a quarter of it computing: the thread waited for a core meanwhile.
    assert [(p["generation"], p["thread"], p["cpu_ms"]) for p in report["gc_pauses"]] == [
        (2, "worker", 30.0)
    ]


def test_a_stall_during_a_collection_says_how_much_of_it_was_collecting() -> None:
    watch = StallWatch(0.050)
    watch.record_gc(2, 0.070, 0, "MainThread")
    watch.record_lag(0.100)
    (stall,) = watch.report()["stalls"]
    assert stall["gc_ms"] == 70.0


def _hold_the_loop(seconds: float) -> None:
    time.sleep(seconds)


async def test_a_blocked_loop_is_caught_with_its_stack_and_real_collections_are_seen() -> None:
    watch = StallWatch(0.040, tick_s=0.005)
    watch.start()
    try:
        await asyncio.sleep(0.05)
        _hold_the_loop(0.4)
        gc.collect()
        await asyncio.sleep(0.05)
    finally:
        await watch.stop()
    report = watch.report()
    (stall,) = [s for s in report["stalls"] if s["lag_ms"] >= 300]
    assert any("_hold_the_loop" in frame for stack in stall["loop_stacks"] for frame in stack)
    assert stall["loop_cpu_ms"] < stall["lag_ms"] / 2  # it slept: a wait, not work
    assert report["gc"]["2"]["collections"] >= 1
    assert watch._on_gc not in gc.callbacks


def test_describe_names_module_function_and_line() -> None:
    import sys

    (here,) = describe(sys._getframe(), depth=1)
    assert here.startswith(f"{__name__}.test_describe_names_module_function_and_line:")


def test_the_threshold_must_be_positive() -> None:
    with pytest.raises(ValueError):
        StallWatch(0)


async def test_the_endpoint_answers_the_report_when_the_watch_is_on() -> None:
    async with serving(settings(), FakeVictoriaMetrics()) as (_app, client):
        off = await client.get("/api/v1/debug/stalls")
        assert off.status_code == 404
    on = settings(server={"stall_watch_ms": 25})
    async with serving(on, FakeVictoriaMetrics()) as (_app, client):
        answer = await client.get("/api/v1/debug/stalls", params={"since": 0})
        assert answer.status_code == 200
        assert answer.json()["threshold_ms"] == 25.0


async def test_the_memory_endpoint_lists_the_heap_when_tracemalloc_traces() -> None:
    import tracemalloc

    async with serving(settings(), FakeVictoriaMetrics()) as (_app, client):
        assert (await client.get("/api/v1/debug/memory")).status_code == 404
        tracemalloc.start()
        try:
            kept = [bytearray(1 << 20) for _ in range(4)]
            answer = await client.get("/api/v1/debug/memory", params={"top": 5})
        finally:
            tracemalloc.stop()
        assert answer.status_code == 200
        body = answer.json()
        assert body["total_bytes"] >= 4 << 20
        assert any("test_stallwatch.py" in w for w in body["top"][0]["where"])
        del kept


def test_a_sample_leaves_no_reference_cycle_holding_the_threads_stacks() -> None:
    """sys._current_frames() holds the sampling frame itself: kept, it makes a cycle that
    keeps every sampled frame's locals alive until a garbage collection."""

    class Payload:
        pass

    refs: list[weakref.ref[Payload]] = []
    ready, release = threading.Event(), threading.Event()

    def hold() -> None:
        payload = Payload()
        refs.append(weakref.ref(payload))
        ready.set()
        release.wait()

    thread = threading.Thread(target=hold)
    thread.start()
    ready.wait()
    gc.disable()
    try:
        StallWatch(0.050).sample(0.100)
        release.set()
        thread.join()
        assert refs[0]() is None  # freed when its frame ended, without a collection
    finally:
        gc.enable()
