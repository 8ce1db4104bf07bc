"""The sender's backlog lane: the spool from its oldest record, and its acknowledgement.

The lane reads the spool's head ``BACKLOG_WINDOW`` records at a time. It acknowledges the
leading records that were delivered (by either lane, in any order), leaves alone a record
the fresh lane claims, and sends the rest one by one: after a random delay when a catch-up
starts, then at the pace of ``hostvitals.agent.pacing.CatchUpPacer``, retrying with
``hostvitals.agent.backoff`` (a wait the collector's recovery cuts short). It sleeps while
there is nothing to do, until ``wake()``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from hostvitals.agent.backoff import Backoff
from hostvitals.agent.lanes import FreshQueue, Pending
from hostvitals.agent.outbox import Outbox
from hostvitals.agent.pacing import CatchUpPacer
from hostvitals.agent.rounds import Rounds

# The sender's log lines keep the sender's logger name, whichever of its modules writes them.
log = logging.getLogger("hostvitals.agent.sender")

BACKLOG_WINDOW = 32
BACKLOG_WINDOW_BYTES = 4 * 2**20


class BacklogLoop:
    """Sends and acknowledges the spool in order; ``run()`` until cancelled."""

    def __init__(
        self,
        fresh: FreshQueue,
        outbox: Outbox,
        rounds: Rounds,
        backoff: Backoff,
        pacer: CatchUpPacer,
        *,
        sleep: Callable[[float], Awaitable[None]],
    ) -> None:
        self._fresh = fresh
        self._outbox = outbox
        self._rounds = rounds
        self._backoff = backoff
        self._pacer = pacer
        self._sleep = sleep
        self._progress = asyncio.Event()

    def wake(self) -> None:
        """There may be something to acknowledge or send: a fresh frame was delivered or
        dropped by the spool, or fell back to this lane."""
        self._progress.set()

    async def run(self) -> None:
        """Send and acknowledge the spool forever; cancel to stop."""
        starting = True
        while True:
            self._progress.clear()
            records = await self._outbox.peek(BACKLOG_WINDOW, BACKLOG_WINDOW_BYTES)
            if not records:
                starting = True
                await self._progress.wait()
                continue
            head = records[0].id
            acked = await self._outbox.ack_delivered(records)
            if acked is not None:
                if acked == records[-1].id and self._outbox.drained():
                    # Everything is acknowledged. A frame spooled since is the fresh lane's,
                    # which wakes this loop when it is delivered or falls back.
                    starting = True
                    await self._progress.wait()
                continue
            if self._fresh.claims(head):
                starting = True  # caught up with the fresh lane
                await self._progress.wait()
                continue
            if starting:
                starting = False
                delay = self._pacer.start_delay()
                log.info(
                    "catching up on %s in %.1f s",
                    "the spool" if len(records) < BACKLOG_WINDOW else "a backlog",
                    delay,
                )
                await self._sleep(delay)
                continue  # look again: the fresh lane may have sent some meanwhile
            record = records[0]
            item = Pending(record.id, record.payload, record.weight)
            await self._pacer.wait_turn()
            await self._deliver(item)
            await self._outbox.ack(item.id)

    async def _deliver(self, item: Pending) -> None:
        async def sleep(delay: float) -> None:
            await self._pacer.back_off(delay, self._rounds.recovered)

        async for attempt in self._backoff.retrying(sleep):
            with attempt:
                if not self._outbox.start_send(item.id, item.sample_count):
                    return  # dropped by the spool's bounds, counted
                lane = self._rounds.backlog_lane
                await lane.send(item, self._rounds.run(lane, item))
                self._pacer.delivered()

    async def ack_delivered(self) -> None:
        """Acknowledge the delivered records at the spool's head (the sender's ``drain``)."""
        await self._outbox.ack_delivered(
            await self._outbox.peek(BACKLOG_WINDOW, BACKLOG_WINDOW_BYTES)
        )
