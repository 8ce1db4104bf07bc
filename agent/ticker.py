"""Drift-free ticks on wall-clock interval boundaries.

Tick times are multiples of the interval since the Unix epoch (a 5 s agent ticks at :00, :05,
...), so every agent with the same interval samples at the same instants and samples carry
the tick's time, not the time sampling ended. Each wait is computed afresh from the clock,
so waits do not accumulate drift. A tick that cannot be taken within ``tolerance`` of its time
(machine suspended, event loop overloaded) is skipped rather than taken late, and later ticks
are never bunched up to catch up.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

MIN_INTERVAL_S = 1.0
MAX_INTERVAL_S = 60.0
MAX_TOLERANCE_MS = 1000


def interval_ms(interval_s: float) -> int:
    if not MIN_INTERVAL_S <= interval_s <= MAX_INTERVAL_S:
        raise ValueError(
            f"interval must be between {MIN_INTERVAL_S:g} and {MAX_INTERVAL_S:g} s, "
            f"got {interval_s!r}"
        )
    return round(interval_s * 1000)


def default_tolerance_ms(step_ms: int) -> int:
    """How late a tick may still be taken: half an interval, at most a second."""
    return min(step_ms // 2, MAX_TOLERANCE_MS)


def next_tick(now_ms: int, step_ms: int, last_ms: int | None, tolerance_ms: int) -> int:
    """The tick to take next, in Unix ms.

    The boundary at or just before ``now`` if it is within ``tolerance`` and was not taken
    yet, otherwise the first boundary after ``now``. The result is in the past (take it
    now) or in the future (sleep until then).
    """
    boundary = now_ms - now_ms % step_ms
    if now_ms - boundary <= tolerance_ms and (last_ms is None or boundary != last_ms):
        return boundary
    return boundary + step_ms


def skipped_between(last_ms: int | None, tick_ms: int, step_ms: int) -> int:
    """Boundaries strictly between two taken ticks (0 if the clock went backwards)."""
    if last_ms is None or tick_ms <= last_ms:
        return 0
    return (tick_ms - last_ms) // step_ms - 1


class Ticker:
    """Waits for the next tick; ``skipped`` counts the boundaries that were not taken."""

    def __init__(
        self,
        interval_s: float,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        tolerance_ms: int | None = None,
    ) -> None:
        self.step_ms = interval_ms(interval_s)
        self.tolerance_ms = (
            default_tolerance_ms(self.step_ms) if tolerance_ms is None else tolerance_ms
        )
        self._clock = clock
        self._sleep = sleep
        self._last: int | None = None
        self.skipped = 0

    def now_ms(self) -> int:
        return int(self._clock() * 1000)

    async def wait(self) -> int:
        """Sleep until the next tick and return its time in Unix ms."""
        while True:
            now = self.now_ms()
            tick = next_tick(now, self.step_ms, self._last, self.tolerance_ms)
            if tick > now:
                await self._sleep((tick - now) / 1000)
                continue  # look at the clock again: the sleep may have been long or short
            self.skipped += skipped_between(self._last, tick, self.step_ms)
            self._last = tick
            return tick
