"""Catch-up pacing: when the backlog lane starts and how fast it sends.

After an outage the backlog starts after a random delay of up to ``jitter_s`` seconds, so a
fleet coming back together does not synchronise, then sends back to back at no more than
``rate`` frames per second. The collector lowers the rate by answering 429 or 503: it halves,
down to ``MIN_RATE``; every frame that goes through raises it by a quarter (plus 0.1), up to
the configured maximum. A backlog send that failed waits out its backoff unless the
collector is seen to be back sooner (the fresh lane got through).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable

MIN_RATE = 0.2
"""Frames per second the backlog never goes below, however often it is throttled."""


class CatchUpPacer:
    """The backlog lane's pace; ``wait_turn()`` before each send."""

    def __init__(
        self,
        max_rate: float,
        jitter_s: float,
        *,
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]],
        rng: random.Random,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._rng = rng
        self._max_rate = self._rate = max_rate
        self._jitter_s = jitter_s
        self._next_send = 0.0

    def reconfigure(self, max_rate: float, jitter_s: float) -> None:
        """New bounds; the current rate is kept if it is below the new maximum."""
        self._max_rate = max_rate
        self._jitter_s = jitter_s
        self._rate = min(self._rate, max_rate)

    @property
    def rate(self) -> float:
        """The current pace, frames per second."""
        return self._rate

    def start_delay(self) -> float:
        """A random delay before a catch-up starts, up to ``jitter_s`` seconds."""
        return self._rng.uniform(0, self._jitter_s)

    async def wait_turn(self) -> None:
        """Wait until the next send is due at the current rate."""
        now = self._clock()
        wait = self._next_send - now
        if wait > 0:
            await self._sleep(wait)
        self._next_send = max(now, self._next_send) + 1.0 / self._rate

    async def back_off(self, delay: float, recovered: asyncio.Event) -> None:
        """Wait out a failed send's ``delay``, cut short when ``recovered`` is set (the fresh
        lane got through); then pause for a random delay like at the start of a catch-up.
        """
        recovered.clear()
        sleeping = asyncio.ensure_future(self._sleep(delay))
        woken = asyncio.ensure_future(recovered.wait())
        try:
            await asyncio.wait((sleeping, woken), return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeping.cancel()
            woken.cancel()
        if woken.done() and not woken.cancelled():
            await self._sleep(self.start_delay())

    def throttled(self) -> None:
        """The collector asked to slow down: halve the rate."""
        self._rate = max(MIN_RATE, self._rate / 2)

    def delivered(self) -> None:
        """A frame went through: climb back towards the maximum."""
        self._rate = min(self._max_rate, self._rate * 1.25 + 0.1)
