"""Catch-up pacing: the jittered start, the spacing of sends and how 429/503 move the rate."""

from __future__ import annotations

import asyncio
import random

import pytest

from hostvitals.agent.pacing import MIN_RATE, CatchUpPacer


class Clock:
    """A clock that sleeping moves forward."""

    def __init__(self) -> None:
        self.now = 100.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


def pacer(clock: Clock, rate: float = 4.0, jitter_s: float = 30.0) -> CatchUpPacer:
    return CatchUpPacer(rate, jitter_s, clock=clock, sleep=clock.sleep, rng=random.Random(3))


async def test_sends_are_spaced_at_the_rate_but_a_slow_sender_does_not_wait() -> None:
    clock = Clock()
    pace = pacer(clock, rate=4.0)
    for _ in range(3):
        await pace.wait_turn()
    assert clock.waits == [0.25, 0.25]  # the first send at once, then every 1/rate
    clock.now += 10  # a slow delivery: already past the next turn
    await pace.wait_turn()
    assert clock.waits == [0.25, 0.25]


def test_the_start_delay_is_random_up_to_the_jitter() -> None:
    pace = pacer(Clock(), jitter_s=30.0)
    delays = [pace.start_delay() for _ in range(50)]
    assert delays[0] == random.Random(3).uniform(0, 30.0)
    assert all(0.0 <= d <= 30.0 for d in delays) and len(set(delays)) > 1
    assert pacer(Clock(), jitter_s=0.0).start_delay() == 0.0


def test_throttling_halves_down_to_the_floor_and_deliveries_climb_back() -> None:
    pace = pacer(Clock(), rate=16.0)
    pace.throttled()
    pace.throttled()
    assert pace.rate == 4.0
    for _ in range(20):
        pace.throttled()
    assert pace.rate == MIN_RATE
    pace.delivered()
    assert pace.rate == pytest.approx(MIN_RATE * 1.25 + 0.1)
    for _ in range(100):
        pace.delivered()
    assert pace.rate == 16.0  # never above the configured maximum


def test_reconfiguring_caps_the_current_rate() -> None:
    pace = pacer(Clock(), rate=16.0)
    pace.reconfigure(8.0, 5.0)
    assert pace.rate == 8.0
    pace.throttled()
    pace.reconfigure(20.0, 5.0)
    assert pace.rate == 4.0  # a throttled rate is kept; it climbs back by deliveries


async def test_a_backoff_is_cut_short_when_the_collector_is_back() -> None:
    waits: list[float] = []
    never = asyncio.Event()

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        if seconds >= 100:
            await never.wait()

    pace = CatchUpPacer(4.0, 30.0, clock=lambda: 0.0, sleep=sleep, rng=random.Random(3))
    recovered = asyncio.Event()
    waiting = asyncio.create_task(pace.back_off(100.0, recovered))
    await asyncio.sleep(0)
    recovered.set()
    await asyncio.wait_for(waiting, 5)
    assert waits == [100.0, random.Random(3).uniform(0, 30.0)]  # then a jittered pause

    waits.clear()
    await pace.back_off(1.0, recovered)  # set before: cleared, so the whole backoff
    assert waits == [1.0]
