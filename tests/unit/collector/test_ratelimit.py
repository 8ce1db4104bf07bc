"""The token buckets of collector/access/ratelimit.py, on a clock the test moves."""

from __future__ import annotations

import pytest

from hostvitals.collector.access.ratelimit import RateLimiter, retry_after_header


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_refused_with_the_wait_until_a_token() -> None:
    clock = Clock()
    limiter = RateLimiter(2.0, 3, clock=clock)
    assert [limiter.acquire("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.acquire("a") == pytest.approx(0.5)
    clock.now += 0.5
    assert limiter.acquire("a") == 0.0
    assert limiter.acquire("a") > 0


def test_keys_have_their_own_buckets() -> None:
    limiter = RateLimiter(1.0, 1, clock=Clock())
    assert limiter.acquire("a") == 0.0
    assert limiter.acquire("a") > 0
    assert limiter.acquire("b") == 0.0


def test_refill_never_exceeds_the_burst() -> None:
    clock = Clock()
    limiter = RateLimiter(10.0, 2, clock=clock)
    limiter.acquire("a")
    clock.now += 3600
    assert [limiter.acquire("a") for _ in range(3)][2] > 0


def test_a_steady_rate_at_the_limit_is_never_refused() -> None:
    clock = Clock()
    limiter = RateLimiter(20.0, 1, clock=clock)
    for _ in range(1000):
        assert limiter.acquire("agent") == 0.0
        clock.now += 1 / 20


def test_zero_rate_is_off() -> None:
    limiter = RateLimiter(0.0, 1, clock=Clock())
    assert all(limiter.acquire("a") == 0.0 for _ in range(100))
    assert not limiter.enabled


def test_keys_are_bounded_oldest_first() -> None:
    limiter = RateLimiter(1.0, 1, max_keys=2, clock=Clock())
    for key in ("a", "b", "c"):
        limiter.acquire(key)
    assert len(limiter) == 2
    assert limiter.acquire("c") > 0  # still known
    assert limiter.acquire("a") == 0.0  # forgotten, so a full bucket again


@pytest.mark.parametrize(("rate", "burst"), [(-1.0, 1), (float("nan"), 1), (1.0, 0)])
def test_bad_bounds(rate: float, burst: float) -> None:
    with pytest.raises(ValueError):
        RateLimiter(rate, burst)


@pytest.mark.parametrize(("wait", "header"), [(0.01, "1"), (1.0, "1"), (1.2, "2"), (30.0, "30")])
def test_retry_after_is_whole_seconds_at_least_one(wait: float, header: str) -> None:
    assert retry_after_header(wait) == header
