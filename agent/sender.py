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

What an answer means is decided by ``hostvitals.agent.delivery.classify``; what the sender does
about it (count, drop, retry, slow the backlog down) is decided here. How long a failed round
waits is ``hostvitals.agent.backoff``, the backlog's pace ``hostvitals.agent.pacing`` and the
order in which the collector URLs are tried ``hostvitals.agent.failover``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from hostvitals.agent.backoff import Backoff, RoundFailed
from hostvitals.agent.config import DeliveryConfig
from hostvitals.agent.delivery import (
    Action,
    classify,
    compressor,
    parse_retry_after,
    request_headers,
)
from hostvitals.agent.failover import Failover
from hostvitals.agent.flushhint import FlushHint
from hostvitals.agent.http import Answer, Unreachable
from hostvitals.agent.lanes import FreshQueue, Lane, Pending
from hostvitals.agent.outbox import Outbox
from hostvitals.agent.pacing import CatchUpPacer
from hostvitals.agent.samplers.base import Row
from hostvitals.agent.send_stats import SendStats
from hostvitals.agent.spool import RecordId
from hostvitals.agent.throttle import Throttle

log = logging.getLogger(__name__)

BACKLOG_WINDOW = 32
BACKLOG_WINDOW_BYTES = 4 * 2**20
_ANSWERED = (Action.DONE, Action.DROP)
"""Answers that account for a frame: the spool no longer needs it."""
_FAILURE_REASONS = {
    Action.AUTH: "unauthorized",
    Action.THROTTLED: "throttled",
    Action.RETRY: "server",
}


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
        self._tuning = tuning
        self._sleep = sleep
        self._clock = clock
        self._throttle = Throttle()
        self._fresh = FreshQueue(tuning.fresh_frames)
        self._progress = asyncio.Event()
        self._fresh_added = asyncio.Event()
        self._recovered = asyncio.Event()
        self._healthy = True
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
        self._configure(config)

    # -- configuration --------------------------------------------------------------------

    def _configure(self, config: DeliveryConfig) -> None:
        self._failover = Failover(
            len(config.collector_urls), self._tuning.primary_recheck_s, self._clock
        )
        self._config = config
        self._encoding, self._compress = compressor(config.compression)
        self._headers: tuple[str | None, dict[str, str]] | None = None
        """The request headers for an encoding, built once per configuration."""
        self._backoff.reconfigure(config.retry_backoff_max)
        self._pacer.reconfigure(config.catchup_rate, config.catchup_jitter)
        self._fresh_lane = Lane("fresh", config)
        self._backlog_lane = Lane("backlog", config)

    def reconfigure(self, config: DeliveryConfig) -> None:
        """Take new URLs, token, compression or pacing; rounds in flight finish first."""
        old = (self._fresh_lane, self._backlog_lane)
        self._configure(config)
        for lane in old:
            lane.retire()

    @property
    def config(self) -> DeliveryConfig:
        return self._config

    # -- feeding --------------------------------------------------------------------------

    def offer(self, record_id: RecordId, data: bytes, sample_count: int) -> None:
        """A frame was just spooled: let the fresh lane send it now.

        The backlog lane is woken only when the oldest fresh frame fell back to it: a frame
        the fresh lane keeps wakes it once delivered, for the acknowledgement.
        """
        if self._fresh.add(Pending(record_id, data, sample_count)):
            self._progress.set()
        self._fresh_added.set()

    @property
    def healthy(self) -> bool:
        """False from a failed round until the next successful one."""
        return self._healthy

    # -- running --------------------------------------------------------------------------

    async def run(self) -> None:
        """Run both lanes forever; cancel to stop."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self._fresh_loop(), name="hostvitals-send-fresh")
            group.create_task(self._backlog_loop(), name="hostvitals-send-backlog")

    async def _fresh_loop(self) -> None:
        while True:
            item = self._fresh.head()
            if item is None:
                self._fresh_added.clear()
                await self._fresh_added.wait()
                continue
            lane = self._fresh_lane
            async for attempt in self._backoff.retrying(self._sleep):
                with attempt:
                    if not self._fresh.holds(item) or lane is not self._fresh_lane:
                        break  # handed to the backlog lane, or reconfigured: start over
                    if not self._outbox.start_send(item.id, item.sample_count):
                        self._done(item)  # dropped by the spool's bounds, counted
                        break
                    try:
                        await lane.send(item, self._round(lane, item))
                    except RoundFailed:
                        if not self._fresh.holds(item):  # fell back while on its way
                            self._fresh.release(item)
                            self._progress.set()
                            break
                        raise
                    self._done(item)

    def _done(self, item: Pending) -> None:
        """``item`` was delivered (the backlog lane acknowledges it, unless its round did), or
        dropped by the spool.

        A round that acknowledged its frame leaves the backlog lane asleep: the frame was the
        oldest in the spool, so what is left is newer, and the fresh lane's (a frame that falls
        back wakes the backlog lane itself).
        """
        self._fresh.remove(item)
        if not item.settled:
            self._progress.set()

    async def _backlog_loop(self) -> None:
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
            await self._deliver_backlog(item)
            await self._outbox.ack(item.id)

    async def _deliver_backlog(self, item: Pending) -> None:
        async def sleep(delay: float) -> None:
            await self._pacer.back_off(delay, self._recovered)

        async for attempt in self._backoff.retrying(sleep):
            with attempt:
                if not self._outbox.start_send(item.id, item.sample_count):
                    return  # dropped by the spool's bounds, counted
                lane = self._backlog_lane
                await lane.send(item, self._round(lane, item))
                self._pacer.delivered()

    async def drain(self, timeout_s: float) -> bool:
        """A last bounded effort on stop: send the fresh frames until they are gone, a round
        fails or ``timeout_s`` passes, then acknowledge what went. True if nothing is left
        in the fresh lane (the backlog stays in the spool for the next run).

        Rounds the stop cut short are waited for first: their frames may be at the collector
        already, and are not sent again.
        """
        deadline = self._clock() + timeout_s
        sending = True
        for lane in (self._fresh_lane, self._backlog_lane):
            ended = await lane.finish(deadline - self._clock())
            if ended is not None and ended[1]:
                self._done(ended[0])
            elif ended is not None and lane is self._fresh_lane:
                sending = False  # it failed, or is still on its way
        while sending and (item := self._fresh.head()) is not None:
            remaining = deadline - self._clock()
            if remaining <= 0:
                break
            if not self._outbox.start_send(item.id, item.sample_count):
                self._done(item)
                continue
            try:
                lane = self._fresh_lane
                await asyncio.wait_for(lane.send(item, self._round(lane, item)), remaining)
            except (RoundFailed, TimeoutError):
                break
            self._done(item)
        await self._outbox.ack_delivered(
            await self._outbox.peek(BACKLOG_WINDOW, BACKLOG_WINDOW_BYTES)
        )
        return not self._fresh

    async def close(self) -> None:
        await self._fresh_lane.close()
        await self._backlog_lane.close()

    # -- one round ------------------------------------------------------------------------

    async def _round(self, lane: Lane, item: Pending) -> None:
        """``_deliver``, for a frame ``Outbox.start_send`` registered: the outbox learns how
        the round ended, even when it ends after the agent stopped waiting for it.
        """
        delivered = False
        try:
            await self._deliver(lane, item)
            delivered = True
        finally:
            self._outbox.end_send(item.id, delivered)

    async def _deliver(self, lane: Lane, item: Pending) -> None:
        """Offer a frame to the collectors once; raises RoundFailed if none took it."""
        if item.body is None or item.body[0] != self._encoding:  # new, or a reload changed it
            item.body = (self._encoding, self._compress(item.data) if self._compress else item.data)
        encoding, body = item.body
        headers = self._headers
        if headers is None or headers[0] != encoding:
            headers = self._headers = (encoding, request_headers(encoding, self._config.token))
        settle = item.id if lane is self._fresh_lane else None
        failure: RoundFailed | None = None
        for index in self._failover.order():
            posted = await self._post(lane, index, body, headers[1], settle)
            if isinstance(posted, RoundFailed):
                failure = posted
                self._failed(index, posted.reason, str(posted))
                continue
            answer, item.settled = posted
            action = classify(answer.status)
            if action is Action.DONE:
                self._stats.frames_sent += 1
                self.flush_hint.heard(answer.flush_interval)
                self._delivered_to(index)
                return
            if action is Action.DROP:
                self._stats.rejected(item.sample_count)
                self._delivered_to(index)
                self._throttle.log(
                    log,
                    logging.ERROR,
                    ("rejected", answer.status),
                    "collector %s rejected a frame of %d samples with %d; dropped it: %s",
                    self._config.collector_urls[index],
                    item.sample_count,
                    answer.status,
                    answer.body,
                )
                return
            reason = _FAILURE_REASONS[action]
            retry_after = None
            if action is Action.THROTTLED:
                retry_after = parse_retry_after(answer.retry_after)
                if lane is self._backlog_lane:
                    self._pacer.throttled()
            failure = RoundFailed(reason, retry_after)
            self._failed(index, reason, f"HTTP {answer.status}: {answer.body}")
        assert failure is not None
        self._healthy = False
        raise failure

    async def _post(
        self,
        lane: Lane,
        index: int,
        body: bytes,
        headers: dict[str, str],
        settle: RecordId | None,
    ) -> tuple[Answer, bool] | RoundFailed:
        """POST in a worker thread; with ``settle``, a frame the answer accounts for (taken
        or rejected) is acknowledged in the spool in the same trip (``Outbox.settle_now``)."""
        try:
            return await asyncio.to_thread(self._post_now, lane, index, body, headers, settle)
        except Unreachable as exc:
            return RoundFailed(exc.reason, detail=str(exc))

    def _post_now(
        self,
        lane: Lane,
        index: int,
        body: bytes,
        headers: dict[str, str],
        settle: RecordId | None,
    ) -> tuple[Answer, bool]:
        answer = lane.poster.post(index, body, headers)
        if settle is None or classify(answer.status) not in _ANSWERED:
            return answer, False
        return answer, self._outbox.settle_now(settle)

    def _delivered_to(self, index: int) -> None:
        if self._failover.answered(index):
            log.info("sending to collector %s", self._config.collector_urls[index])
        if not self._healthy:
            log.info("collector %s is reachable again", self._config.collector_urls[index])
        self._healthy = True
        self._recovered.set()

    def _failed(self, index: int, reason: str, detail: str) -> None:
        self._stats.failed(reason)
        self._failover.failed(index)
        level = logging.ERROR if reason == "unauthorized" else logging.WARNING
        self._throttle.log(
            log,
            level,
            (index, reason),
            "sending to %s failed (%s): %s",
            self._config.collector_urls[index],
            reason,
            detail,
        )

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
