"""The periodic background thread: runs every interval, survives a failing run, stops at once."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from hostvitals.collector.periodic import PeriodicThread

WAIT = 10.0


class Counting:
    """A task that counts its runs and can be made to fail."""

    def __init__(self, runs_wanted: int) -> None:
        self.runs = 0
        self.fail = False
        self.enough = threading.Event()
        self._wanted = runs_wanted

    def __call__(self) -> None:
        self.runs += 1
        if self.runs >= self._wanted:
            self.enough.set()
        if self.fail:
            raise RuntimeError("boom")


def test_runs_every_interval_in_a_named_thread_until_stopped() -> None:
    names: list[str] = []
    task = Counting(3)

    def run() -> None:
        names.append(threading.current_thread().name)
        task()

    periodic = PeriodicThread("test-periodic", 0.01, run, what="test task")
    periodic.start()
    periodic.start()  # a second start does not start a second thread
    assert task.enough.wait(WAIT)
    periodic.stop(WAIT)
    runs = task.runs
    time.sleep(0.05)
    assert task.runs == runs  # stopped: no more runs
    assert set(names) == {"test-periodic"}
    assert periodic.stopping
    assert periodic.failures == 0


def test_waits_one_interval_before_the_first_run() -> None:
    task = Counting(1)
    periodic = PeriodicThread("test-periodic", 60.0, task, what="test task")
    periodic.start()
    periodic.stop(WAIT)
    assert task.runs == 0


def test_a_failing_run_is_logged_and_counted_and_the_next_run_comes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    task = Counting(3)
    task.fail = True
    periodic = PeriodicThread("test-periodic", 0.01, task, what="test task")
    with caplog.at_level(logging.ERROR, logger="hostvitals.collector.periodic"):
        periodic.start()
        assert task.enough.wait(WAIT)
        periodic.stop(WAIT)
    assert periodic.failures == task.runs >= 3
    failed = [r for r in caplog.records if r.getMessage() == "test task failed"]
    assert len(failed) == task.runs
    assert all(r.exc_info is not None and r.exc_info[0] is RuntimeError for r in failed)


def test_stop_is_prompt_with_a_long_interval() -> None:
    periodic = PeriodicThread("test-periodic", 3600.0, Counting(1), what="test task")
    periodic.start()
    started = time.monotonic()
    periodic.stop(WAIT)
    assert time.monotonic() - started < 1.0


def test_stop_waits_for_the_run_in_progress_and_a_run_can_see_it() -> None:
    entered = threading.Event()
    seen: list[bool] = []

    def long_run() -> None:
        entered.set()
        while not periodic.stopping:
            time.sleep(0.001)
        seen.append(periodic.stopping)

    periodic = PeriodicThread("test-periodic", 0.01, long_run, what="test task")
    periodic.start()
    assert entered.wait(WAIT)
    periodic.stop(WAIT)
    assert seen == [True]


def test_stop_without_start_and_bad_intervals() -> None:
    PeriodicThread("test-periodic", 1.0, Counting(1), what="test task").stop()
    for interval in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="positive"):
            PeriodicThread("test-periodic", interval, Counting(1), what="test task")
