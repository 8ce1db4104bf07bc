"""The sender's fresh lane: the newest frames, sent as they are spooled.

The sender hands each frame over in memory right after spooling it (``offer``); the lane
sends the oldest of them, retrying with ``hostvitals.agent.backoff`` until it is delivered,
dropped by the spool, or falls back to the backlog lane (``hostvitals.agent.lanes.FreshQueue``
keeps at most ``fresh_frames``). The backlog lane owns the spool's acknowledgement, so the
fresh lane wakes it whenever there is something for it to acknowledge or take over.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from hostvitals.agent.backoff import Backoff, RoundFailed
from hostvitals.agent.lanes import FreshQueue, Pending
from hostvitals.agent.outbox import Outbox
from hostvitals.agent.rounds import Rounds


class FreshLoop:
    """Sends the frames of ``queue``, oldest first; ``run()`` until cancelled."""

    def __init__(
        self,
        queue: FreshQueue,
        outbox: Outbox,
        rounds: Rounds,
        backoff: Backoff,
        *,
        wake_backlog: Callable[[], None],
        sleep: Callable[[float], Awaitable[None]],
        clock: Callable[[], float],
    ) -> None:
        self._queue = queue
        self._outbox = outbox
        self._rounds = rounds
        self._backoff = backoff
        self._wake_backlog = wake_backlog
        self._sleep = sleep
        self._clock = clock
        self._added = asyncio.Event()

    def __len__(self) -> int:
        """Frames the lane still has to send."""
        return len(self._queue)

    def offer(self, item: Pending) -> None:
        """A frame was just spooled: send it now.

        The backlog lane is woken only when the oldest fresh frame fell back to it: a frame
        the fresh lane keeps wakes it once delivered, for the acknowledgement.
        """
        if self._queue.add(item):
            self._wake_backlog()
        self._added.set()

    async def run(self) -> None:
        """Send the fresh frames forever; cancel to stop."""
        while True:
            item = self._queue.head()
            if item is None:
                self._added.clear()
                await self._added.wait()
                continue
            lane = self._rounds.fresh_lane
            async for attempt in self._backoff.retrying(self._sleep):
                with attempt:
                    if not self._queue.holds(item) or lane is not self._rounds.fresh_lane:
                        break  # handed to the backlog lane, or reconfigured: start over
                    if not self._outbox.start_send(item.id, item.sample_count):
                        self.done(item)  # dropped by the spool's bounds, counted
                        break
                    try:
                        await lane.send(item, self._rounds.run(lane, item))
                    except RoundFailed:
                        if not self._queue.holds(item):  # fell back while on its way
                            self._queue.release(item)
                            self._wake_backlog()
                            break
                        raise
                    self.done(item)

    def done(self, item: Pending) -> None:
        """``item`` was delivered (the backlog lane acknowledges it, unless its round did), or
        dropped by the spool.

        A round that acknowledged its frame leaves the backlog lane asleep: the frame was the
        oldest in the spool, so what is left is newer, and the fresh lane's (a frame that falls
        back wakes the backlog lane itself).
        """
        self._queue.remove(item)
        if not item.settled:
            self._wake_backlog()

    async def send_until(self, deadline: float) -> None:
        """Send the fresh frames once each, without retrying, until they are gone, a round
        fails or the clock reaches ``deadline`` (the sender's ``drain``).
        """
        while (item := self._queue.head()) is not None:
            remaining = deadline - self._clock()
            if remaining <= 0:
                break
            if not self._outbox.start_send(item.id, item.sample_count):
                self.done(item)
                continue
            try:
                lane = self._rounds.fresh_lane
                await asyncio.wait_for(lane.send(item, self._rounds.run(lane, item)), remaining)
            except (RoundFailed, TimeoutError):
                break
            self.done(item)
