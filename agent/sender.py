"""Pushes spooled frames to the collector over HTTP, in two lanes.

Every frame is in the spool (``hostvitals.agent.outbox``) before the sender sees it. Two lanes
deliver:

fresh
    the newest frames, handed over in memory as they are spooled (at most ``fresh_frames``;
    when more arrive, the oldest falls back to the backlog). This keeps live data flowing
    while a backlog drains.
backlog
    the spool from its oldest record: frames the fresh lane let go during an outage, and
    whatever a previous run left. It starts after a random delay of up to
    ``catchup_jitter`` seconds (so a fleet coming back together does not synchronise) and sends
    back to back at no more than ``catchup_rate`` frames per second, which the collector
    lowers by answering 429/503.

The spool's acknowledgement is a read position, so the backlog lane owns it: it acknowledges
the records it delivered and, on its way, those the fresh lane delivered out of order. Every
round is registered with the outbox, which so knows what was delivered, and which of the
frames its spool drops are really lost. A frame delivered by the fresh lane but not yet
acknowledged is sent again after a crash; the collector deduplicates frames by sequence
number.

``Sender`` wires the parts together: the fresh lane is ``hostvitals.agent.fresh_loop``, the
backlog lane ``hostvitals.agent.backlog_loop``, and one round (a frame offered to the
collectors once, and what the sender does about the answer: count, drop, slow the backlog
down) ``hostvitals.agent.rounds``. What an answer means is decided by
``hostvitals.agent.delivery.classify``. How long a failed round waits is
``hostvitals.agent.backoff``, the backlog's pace ``hostvitals.agent.pacing``, the order in
which the collector URLs are tried ``hostvitals.agent.failover`` and the counters
``hostvitals.agent.send_stats``.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from hostvitals.agent.backlog_loop import BacklogLoop
from hostvitals.agent.backoff import Backoff
from hostvitals.agent.config import DeliveryConfig
from hostvitals.agent.flushhint import FlushHint
from hostvitals.agent.fresh_loop import FreshLoop
from hostvitals.agent.lanes import FreshQueue, Pending
from hostvitals.agent.outbox import Outbox
from hostvitals.agent.pacing import CatchUpPacer
from hostvitals.agent.rounds import Rounds
from hostvitals.agent.samplers.base import Row
from hostvitals.agent.send_stats import SendStats
from hostvitals.agent.spool import RecordId


@dataclass(frozen=True, slots=True)
class Tuning:
    """How the sender behaves beyond what the configuration sets (tests shorten these)."""

    backoff_initial_s: float = 1.0
    retry_after_max_s: float = 600.0
    primary_recheck_s: float = 30.0
    fresh_frames: int = 4


class Sender:
    """Delivers spooled frames; ``run()`` until cancelled, then ``drain()`` and ``close()``."""

    def __init__(
        self,
        config: DeliveryConfig,
        outbox: Outbox,
        *,
        tuning: Tuning = Tuning(),
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self._outbox = outbox
        self._clock = clock
        self._stats = SendStats()
        self.flush_hint = FlushHint(clock=clock)
        """What the newest answer asks about flushing (the agent reads it every tick)."""
        self._backoff = Backoff(
            tuning.backoff_initial_s, config.retry_backoff_max, tuning.retry_after_max_s
        )
        self._pacer = CatchUpPacer(
            config.catchup_rate,
            config.catchup_jitter,
            clock=clock,
            sleep=sleep,
            rng=rng or random.Random(),
        )
        self._rounds = Rounds(
            config,
            outbox,
            stats=self._stats,
            flush_hint=self.flush_hint,
            pacer=self._pacer,
            primary_recheck_s=tuning.primary_recheck_s,
            clock=clock,
        )
        queue = FreshQueue(tuning.fresh_frames)
        self._backlog = BacklogLoop(
            queue, outbox, self._rounds, self._backoff, self._pacer, sleep=sleep
        )
        self._fresh = FreshLoop(
            queue,
            outbox,
            self._rounds,
            self._backoff,
            wake_backlog=self._backlog.wake,
            sleep=sleep,
            clock=clock,
        )

    # -- configuration --------------------------------------------------------------------

    def reconfigure(self, config: DeliveryConfig) -> None:
        """Take new URLs, token, compression or pacing; rounds in flight finish first."""
        self._rounds.reconfigure(config)
        self._backoff.reconfigure(config.retry_backoff_max)
        self._pacer.reconfigure(config.catchup_rate, config.catchup_jitter)

    @property
    def config(self) -> DeliveryConfig:
        return self._rounds.config

    # -- feeding --------------------------------------------------------------------------

    def offer(self, record_id: RecordId, data: bytes, sample_count: int) -> None:
        """A frame was just spooled: let the fresh lane send it now."""
        self._fresh.offer(Pending(record_id, data, sample_count))

    @property
    def healthy(self) -> bool:
        """False from a failed round until the next successful one."""
        return self._rounds.healthy

    # -- running --------------------------------------------------------------------------

    async def run(self) -> None:
        """Run both lanes forever; cancel to stop."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self._fresh.run(), name="hostvitals-send-fresh")
            group.create_task(self._backlog.run(), name="hostvitals-send-backlog")

    async def drain(self, timeout_s: float) -> bool:
        """A last bounded effort on stop: send the fresh frames until they are gone, a round
        fails or ``timeout_s`` passes, then acknowledge what went. True if nothing is left
        in the fresh lane (the backlog stays in the spool for the next run).

        Rounds the stop cut short are waited for first: their frames may be at the collector
        already, and are not sent again.
        """
        deadline = self._clock() + timeout_s
        sending = True
        for lane in (self._rounds.fresh_lane, self._rounds.backlog_lane):
            ended = await lane.finish(deadline - self._clock())
            if ended is not None and ended[1]:
                self._fresh.done(ended[0])
            elif ended is not None and lane is self._rounds.fresh_lane:
                sending = False  # it failed, or is still on its way
        if sending:
            await self._fresh.send_until(deadline)
        await self._backlog.ack_delivered()
        return not self._fresh

    async def close(self) -> None:
        await self._rounds.fresh_lane.close()
        await self._rounds.backlog_lane.close()

    # -- health ---------------------------------------------------------------------------

    @property
    def frames_sent(self) -> int:
        return self._stats.frames_sent

    @property
    def rejected_samples(self) -> int:
        return self._stats.rejected_samples

    @property
    def catchup_rate(self) -> float:
        """The backlog lane's current pace, frames per second."""
        return self._pacer.rate

    def send_errors(self) -> dict[str, int]:
        return self._stats.send_errors()

    def stats_rows(self) -> list[Row]:
        """Delivery counters and spool gauges, as agent metrics."""
        return self._stats.rows(self._outbox.counts())
