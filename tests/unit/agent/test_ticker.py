"""Tick alignment: pure arithmetic, and the waiting loop driven by a fake clock."""

from __future__ import annotations

import pytest

from hostvitals.agent.ticker import Ticker, interval_ms, next_tick, skipped_between


class TestNextTick:
    @pytest.mark.parametrize(
        ("now", "last", "expected"),
        [
            (10_000, None, 10_000),  # exactly on a boundary
            (10_003, None, 10_000),  # a little late: still that tick
            (10_500, None, 10_000),  # at the edge of the tolerance
            (10_501, None, 11_000),  # too late for it: wait for the next
            (10_003, 10_000, 11_000),  # already taken
            (9_999, 9_000, 10_000),  # woke up a hair early
            (25_200, 10_000, 25_000),  # long pause: take the current one, skip the rest
            (5_100, 10_000, 5_000),  # clock stepped back: go on from the new time
        ],
    )
    def test_cases(self, now: int, last: int | None, expected: int) -> None:
        assert next_tick(now, 1000, last, 500) == expected

    def test_ticks_are_on_wall_clock_multiples_of_the_interval(self) -> None:
        assert next_tick(1_700_000_001_234, 5000, None, 1000) == 1_700_000_005_000
        assert next_tick(1_700_000_005_900, 5000, None, 1000) == 1_700_000_005_000

    def test_skipped_between(self) -> None:
        assert skipped_between(None, 5000, 1000) == 0
        assert skipped_between(4000, 5000, 1000) == 0
        assert skipped_between(1000, 5000, 1000) == 3
        assert skipped_between(9000, 5000, 1000) == 0

    @pytest.mark.parametrize("bad", [0, 0.5, 61, -1])
    def test_interval_range(self, bad: float) -> None:
        with pytest.raises(ValueError, match="between 1 and 60"):
            interval_ms(bad)
        assert interval_ms(1.5) == 1500


class FakeTime:
    """A wall clock that moves only when the ticker sleeps; each sleep oversleeps by ``lag``."""

    def __init__(self, start: float, lag: float = 0.0) -> None:
        self.now = start
        self.lag = lag
        self.sleeps: list[float] = []
        self.jumps: dict[int, float] = {}  # sleep index -> extra seconds (suspend)

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds + self.lag + self.jumps.get(len(self.sleeps), 0.0)
        self.sleeps.append(seconds)


async def test_ticks_do_not_drift_when_every_sleep_runs_late() -> None:
    fake = FakeTime(start=1000.6, lag=0.007)
    ticker = Ticker(1, clock=fake.clock, sleep=fake.sleep)
    ticks = [await ticker.wait() for _ in range(50)]
    assert ticks == [1_001_000 + 1000 * k for k in range(50)]
    assert ticker.skipped == 0


@pytest.mark.parametrize(
    ("extra", "expected", "skipped"),
    [
        (3.2, [101_000, 105_000, 106_000], 3),  # woke at 105.2: 105 is still on time
        (3.7, [101_000, 106_000, 107_000], 4),  # woke at 105.7: too late for 105, wait for 106
    ],
)
async def test_a_suspend_skips_ticks_instead_of_bunching_them(
    extra: float, expected: list[int], skipped: int
) -> None:
    fake = FakeTime(start=100.0)
    ticker = Ticker(1, clock=fake.clock, sleep=fake.sleep)
    assert await ticker.wait() == 100_000  # on a boundary: no sleep at all
    fake.jumps[1] = extra  # the second sleep lasts this much longer than asked
    assert [await ticker.wait() for _ in range(3)] == expected
    assert ticker.skipped == skipped
    assert all(s <= 1.0 for s in fake.sleeps)  # never sleeps longer than an interval


async def test_slow_interval_aligns_to_its_boundaries() -> None:
    fake = FakeTime(start=1_700_000_002.0)
    ticker = Ticker(15, clock=fake.clock, sleep=fake.sleep)
    assert await ticker.wait() == 1_700_000_010_000
    assert await ticker.wait() == 1_700_000_025_000
