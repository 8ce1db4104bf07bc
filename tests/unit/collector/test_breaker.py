"""Circuit breaker states with an injected clock."""

from __future__ import annotations

from hostvitals.collector.vm.breaker import BreakerState, CircuitBreaker
from tests.support.clock import ManualClock


def breaker(clock: ManualClock, **kw: float) -> CircuitBreaker:
    params = {"failure_threshold": 2, "open_s": 5.0, "half_open_max_requests": 1}
    params |= kw
    return CircuitBreaker(
        failure_threshold=int(params["failure_threshold"]),
        open_s=params["open_s"],
        half_open_max_requests=int(params["half_open_max_requests"]),
        slow_write_s=params.get("slow_write_s", 2.0),
        clock=clock,
    )


def fail(b: CircuitBreaker) -> None:
    b.write_started()
    b.write_finished(False)


def test_opens_after_consecutive_failures_and_says_how_long() -> None:
    clock = ManualClock(100.0)
    b = breaker(clock)
    fail(b)
    assert b.admit() is None
    fail(b)
    assert b.state is BreakerState.OPEN
    assert b.admit() == 5
    clock.now += 3.5
    assert b.admit() == 2


def test_a_success_resets_the_count() -> None:
    b = breaker(ManualClock(100.0))
    fail(b)
    b.write_started()
    b.write_finished(True)
    fail(b)
    assert b.state is BreakerState.CLOSED


def test_half_open_admits_a_trial_then_closes_or_reopens() -> None:
    clock = ManualClock(100.0)
    b = breaker(clock)
    fail(b)
    fail(b)
    clock.now += 5
    assert b.state is BreakerState.HALF_OPEN
    assert b.admit() is None  # the trial
    assert b.admit() is not None  # only one
    fail(b)
    assert b.state is BreakerState.OPEN
    clock.now += 5
    assert b.admit() is None
    b.write_started()
    b.write_finished(True)
    assert b.state is BreakerState.CLOSED
    assert b.admit() is None


def test_unused_trials_are_renewed() -> None:
    clock = ManualClock(100.0)
    b = breaker(clock)
    fail(b)
    fail(b)
    clock.now += 5
    assert b.admit() is None  # a trial that never writes (say, a duplicate)
    assert b.admit() is not None
    clock.now += 5
    assert b.admit() is None


def test_slow_writes_count_as_failures_and_refuse_while_running() -> None:
    clock = ManualClock(100.0)
    b = breaker(clock, slow_write_s=1.0)
    b.write_started()
    clock.now += 1.5
    assert b.admit() == 1  # a write is hanging: do not queue behind it
    b.write_finished(True)
    assert b.admit() is None
    b.write_started()
    clock.now += 1.5
    b.write_finished(True)
    assert b.state is BreakerState.OPEN
