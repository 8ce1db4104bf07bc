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
    back to back at no more than ``catchup_rate`` frames per second; the collector lowers
    that rate by answering 429/503 (the rate halves and Retry-After is honoured) and it
    climbs back as frames go through.

The spool's acknowledgement is a read position, so the backlog lane owns it: it acknowledges
the records it delivered and, on its way, those the fresh lane delivered out of order. A frame
delivered by the fresh lane but not yet acknowledged is sent again after a crash; the
collector deduplicates frames by sequence number.

What an answer means is decided by ``hostvitals.agent.delivery.classify``. Failed rounds are retried
with tenacity: exponential backoff with full jitter (1 s doubling up to a cap), or as long as
Retry-After says. With several collector URLs, a round tries them in order starting with the
one that worked last, and goes back to the first one once it answers again (it is probed
every ``primary_recheck_s`` while another one is in use).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_never,
    wait_random_exponential,
)

from hostvitals.agent.config import DeliveryConfig
from hostvitals.agent.delivery import INGEST_PATH, Action, classify, compressor, parse_retry_after
from hostvitals.agent.http import Answer, Poster, Unreachable
from hostvitals.agent.outbox import Outbox
from hostvitals.agent.samplers.base import NO_LABELS, Row, labels
from hostvitals.agent.spool import RecordId
from hostvitals.agent.throttle import Throttle
from hostvitals.shared.protocol import CONTENT_TYPE

log = logging.getLogger(__name__)

SEND_ERROR_REASONS = ("connection", "timeout", "unauthorized", "throttled", "server", "rejected")
DROP_REASONS = ("rejected", "spool_full", "expired")
MIN_RETRY_AFTER_S = 0.1
USER_AGENT = "hostvitals-agent/0.1"
BACKLOG_WINDOW = 32
BACKLOG_WINDOW_BYTES = 4 * 2**20
MIN_CATCHUP_RATE = 0.2


@dataclass(frozen=True, slots=True)
class Tuning:
    """How the sender behaves beyond what the configuration sets (tests shorten these)."""

    backoff_initial_s: float = 1.0
    retry_after_max_s: float = 600.0
    primary_recheck_s: float = 30.0
    fresh_frames: int = 4


class RoundFailed(Exception):
    """No collector took the frame this round; retry later."""

    def __init__(
        self, reason: str, retry_after_s: float | None = None, *, detail: str = ""
    ) -> None:
        super().__init__(detail or reason)
        self.reason = reason
        self.retry_after_s = retry_after_s


@dataclass(slots=True)
class Pending:
    """A spooled frame on its way: where it is in the spool, its bytes and samples."""

    id: RecordId
    data: bytes
    sample_count: int
    body: bytes | None = None  # compressed once, reused across retries


class _Lane:
    """What one lane owns: its connections and its own backoff."""

    def __init__(self, name: str, config: DeliveryConfig) -> None:
        self.name = name
        self.poster = Poster(
            tuple(url.rstrip("/") + INGEST_PATH for url in config.collector_urls),
            config.request_timeout,
        )


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
        self._rng = rng or random.Random()
        self._throttle = Throttle()
        self._fresh: deque[Pending] = deque()
        self._claimed: set[RecordId] = set()
        self._delivered: set[RecordId] = set()
        self._progress = asyncio.Event()
        self._fresh_added = asyncio.Event()
        self._recovered = asyncio.Event()
        self._healthy = True
        self._active = 0
        self._primary_due = 0.0
        self._send_errors = dict.fromkeys(SEND_ERROR_REASONS, 0)
        self._frames_sent = 0
        self._rejected_samples = 0
        self._rate = config.catchup_rate
        self._next_backlog_send = 0.0
        self._config = config
        self._configure(config)

    # -- configuration --------------------------------------------------------------------

    def _configure(self, config: DeliveryConfig) -> None:
        if not config.collector_urls:
            raise ValueError("at least one collector URL is needed")
        self._config = config
        self._encoding, self._compress = compressor(config.compression)
        self._backoff = wait_random_exponential(
            multiplier=self._tuning.backoff_initial_s, max=config.retry_backoff_max
        )
        self._fresh_lane = _Lane("fresh", config)
        self._backlog_lane = _Lane("backlog", config)
        self._rate = min(self._rate, config.catchup_rate) or config.catchup_rate
        self._active = 0
        for item in self._fresh:
            item.body = None

    def reconfigure(self, config: DeliveryConfig) -> None:
        """Take new URLs, token, compression or pacing; frames in flight finish first."""
        old = (self._fresh_lane, self._backlog_lane)
        self._configure(config)
        for lane in old:
            lane.poster.close()

    @property
    def config(self) -> DeliveryConfig:
        return self._config

    # -- feeding --------------------------------------------------------------------------

    def offer(self, record_id: RecordId, data: bytes, sample_count: int) -> None:
        """A frame was just spooled: let the fresh lane send it now."""
        self._fresh.append(Pending(record_id, data, sample_count))
        self._claimed.add(record_id)
        while len(self._fresh) > self._tuning.fresh_frames:
            self._claimed.discard(self._fresh.popleft().id)  # the backlog lane takes it
        self._fresh_added.set()
        self._progress.set()

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
            if not self._fresh:
                self._fresh_added.clear()
                await self._fresh_added.wait()
                continue
            item = self._fresh[0]
            lane = self._fresh_lane
            retrying = self._retrying(self._sleep)
            async for attempt in retrying:
                with attempt:
                    if item.id not in self._claimed or lane is not self._fresh_lane:
                        break  # handed to the backlog lane, or reconfigured: start over
                    if self._outbox.gone(item.id):  # dropped by the spool's bounds, counted
                        self._fresh_done(item)
                        break
                    await self._deliver(lane, item)
                    self._fresh_done(item)

    def _fresh_done(self, item: Pending) -> None:
        if self._fresh and self._fresh[0] is item:
            self._fresh.popleft()
        self._claimed.discard(item.id)
        self._delivered.add(item.id)
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
            if self._delivered and min(self._delivered) < head:  # dropped by the spool
                self._delivered = {i for i in self._delivered if i >= head}
            done: RecordId | None = None
            for record in records:
                if record.id not in self._delivered:
                    break
                self._delivered.discard(record.id)
                done = record.id
            if done is not None:
                await self._outbox.ack(done)
                continue
            if head in self._claimed:
                starting = True  # caught up with the fresh lane
                await self._progress.wait()
                continue
            if starting:
                starting = False
                delay = self._rng.uniform(0, self._config.catchup_jitter)
                log.info(
                    "catching up on %s in %.1f s",
                    "the spool" if len(records) < BACKLOG_WINDOW else "a backlog",
                    delay,
                )
                await self._sleep(delay)
                continue  # look again: the fresh lane may have sent some meanwhile
            record = records[0]
            item = Pending(record.id, record.payload, record.weight)
            await self._pace()
            await self._deliver_backlog(item)
            await self._outbox.ack(item.id)

    async def _deliver_backlog(self, item: Pending) -> None:
        async def sleep(delay: float) -> None:
            """The backoff, cut short when the fresh lane gets through; then a jittered pause
            like at the start of a catch-up.
            """
            self._recovered.clear()
            sleeping = asyncio.ensure_future(self._sleep(delay))
            woken = asyncio.ensure_future(self._recovered.wait())
            try:
                await asyncio.wait((sleeping, woken), return_when=asyncio.FIRST_COMPLETED)
            finally:
                sleeping.cancel()
                woken.cancel()
            if woken.done() and not woken.cancelled():
                await self._sleep(self._rng.uniform(0, self._config.catchup_jitter))

        async for attempt in self._retrying(sleep):
            with attempt:
                if self._outbox.gone(item.id):  # dropped by the spool's bounds, counted
                    return
                await self._deliver(self._backlog_lane, item)
                self._rate = min(self._config.catchup_rate, self._rate * 1.25 + 0.1)

    async def _pace(self) -> None:
        now = self._clock()
        wait = self._next_backlog_send - now
        if wait > 0:
            await self._sleep(wait)
        self._next_backlog_send = max(now, self._next_backlog_send) + 1.0 / self._rate

    def _retrying(self, sleep: Callable[[float], Awaitable[None]]) -> AsyncRetrying:
        return AsyncRetrying(
            retry=retry_if_exception_type(RoundFailed),
            wait=self._wait,
            stop=stop_never,
            sleep=sleep,
            reraise=True,
        )

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, RoundFailed) and exc.retry_after_s is not None:
            return min(max(exc.retry_after_s, MIN_RETRY_AFTER_S), self._tuning.retry_after_max_s)
        return float(self._backoff(state))

    async def drain(self, timeout_s: float) -> bool:
        """A last bounded effort on stop: send the fresh frames until they are gone, a round
        fails or ``timeout_s`` passes, then acknowledge what went. True if nothing is left
        in the fresh lane (the backlog stays in the spool for the next run).
        """
        deadline = self._clock() + timeout_s
        while self._fresh:
            remaining = deadline - self._clock()
            if remaining <= 0:
                break
            item = self._fresh[0]
            if self._outbox.gone(item.id):
                self._fresh_done(item)
                continue
            try:
                await asyncio.wait_for(self._deliver(self._fresh_lane, item), remaining)
            except (RoundFailed, TimeoutError):
                break
            self._fresh_done(item)
        records = await self._outbox.peek(BACKLOG_WINDOW, BACKLOG_WINDOW_BYTES)
        done: RecordId | None = None
        for record in records:
            if record.id not in self._delivered:
                break
            done = record.id
        if done is not None:
            await self._outbox.ack(done)
        return not self._fresh

    async def close(self) -> None:
        self._fresh_lane.poster.close()
        self._backlog_lane.poster.close()

    # -- one round ------------------------------------------------------------------------

    async def _deliver(self, lane: _Lane, item: Pending) -> None:
        """Offer a frame to the collectors once; raises RoundFailed if none took it."""
        if item.body is None:
            item.body = item.data if self._compress is None else self._compress(item.data)
        headers = self._headers()
        failure: RoundFailed | None = None
        for index in self._order():
            answer = await self._post(lane, index, item.body, headers)
            if isinstance(answer, RoundFailed):
                failure = answer
                self._failed(index, answer.reason, str(answer))
                continue
            action = classify(answer.status)
            if action is Action.DONE:
                self._frames_sent += 1
                self._delivered_to(index)
                return
            if action is Action.DROP:
                self._send_errors["rejected"] += 1
                self._rejected_samples += item.sample_count
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
            reason = {
                Action.AUTH: "unauthorized",
                Action.THROTTLED: "throttled",
                Action.RETRY: "server",
            }[action]
            retry_after = None
            if action is Action.THROTTLED:
                retry_after = parse_retry_after(answer.retry_after)
                if lane is self._backlog_lane:
                    self._rate = max(MIN_CATCHUP_RATE, self._rate / 2)
            failure = RoundFailed(reason, retry_after)
            self._failed(index, reason, f"HTTP {answer.status}: {answer.body}")
        assert failure is not None
        self._healthy = False
        raise failure

    async def _post(
        self, lane: _Lane, index: int, body: bytes, headers: dict[str, str]
    ) -> Answer | RoundFailed:
        try:
            return await asyncio.to_thread(lane.poster.post, index, body, headers)
        except Unreachable as exc:
            return RoundFailed(exc.reason, detail=str(exc))

    def _order(self) -> list[int]:
        """Collector indexes to try this round: the active one first (or the first one when
        it is due for a recheck), then the rest in configured order.
        """
        first = self._active
        if first != 0 and self._clock() >= self._primary_due:
            first = 0
        return [first, *(i for i in range(len(self._config.collector_urls)) if i != first)]

    def _delivered_to(self, index: int) -> None:
        if index != self._active:
            log.info("sending to collector %s", self._config.collector_urls[index])
        self._active = index
        if index != 0:
            self._primary_due = self._clock() + self._tuning.primary_recheck_s
        if not self._healthy:
            log.info("collector %s is reachable again", self._config.collector_urls[index])
        self._healthy = True
        self._recovered.set()

    def _failed(self, index: int, reason: str, detail: str) -> None:
        self._send_errors[reason] += 1
        if index == 0 and self._active != 0:
            self._primary_due = self._clock() + self._tuning.primary_recheck_s
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

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": CONTENT_TYPE, "User-Agent": USER_AGENT}
        if self._encoding is not None:
            headers["Content-Encoding"] = self._encoding
        if self._config.token:
            headers["Authorization"] = f"Bearer {self._config.token}"
        return headers

    # -- health ---------------------------------------------------------------------------

    @property
    def frames_sent(self) -> int:
        return self._frames_sent

    @property
    def rejected_samples(self) -> int:
        return self._rejected_samples

    @property
    def catchup_rate(self) -> float:
        """The backlog lane's current pace, frames per second."""
        return self._rate

    def send_errors(self) -> dict[str, int]:
        return dict(self._send_errors)

    def stats_rows(self) -> list[Row]:
        """Delivery counters and spool gauges, as agent metrics."""
        rows: list[Row] = [
            ("hostvitals_agent_send_errors_total", labels(reason=reason), count)
            for reason, count in self.send_errors().items()
        ]
        rows.append(("hostvitals_agent_frames_sent_total", NO_LABELS, self._frames_sent))
        counts = self._outbox.counts()
        dropped = {
            "rejected": self._rejected_samples,
            "spool_full": counts.full_samples,
            "expired": counts.expired_samples,
        }
        rows.extend(
            ("hostvitals_agent_dropped_samples_total", labels(reason=reason), dropped[reason])
            for reason in DROP_REASONS
        )
        rows.append(("hostvitals_agent_spool_frames", NO_LABELS, counts.pending_frames))
        rows.append(("hostvitals_agent_spool_bytes", NO_LABELS, counts.pending_bytes))
        return rows
