"""One round of the sender: a frame offered to the collectors once, and what the answers do.

A round encodes the frame's body (once per encoding), tries the collector URLs in the order
``hostvitals.agent.failover`` gives, POSTs in a worker thread and accounts for the outcome:
the counters (``hostvitals.agent.send_stats``), the sender's health, the flush hint, the
backlog's pace on 429/503 and the log lines. What an answer means is decided by
``hostvitals.agent.delivery.classify``; whether the round is tried again, and when, is the
lane loop's (``hostvitals.agent.fresh_loop``, ``hostvitals.agent.backlog_loop``).

The rounds also own what a configuration sets up for them: the URLs' failover, the encoding
and request headers, and the two lanes (``hostvitals.agent.lanes``) whose connections they
use; ``reconfigure`` replaces them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from hostvitals.agent.backoff import RoundFailed
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
from hostvitals.agent.lanes import Lane, Pending
from hostvitals.agent.outbox import Outbox
from hostvitals.agent.pacing import CatchUpPacer
from hostvitals.agent.send_stats import SendStats
from hostvitals.agent.spool import RecordId
from hostvitals.agent.throttle import Throttle

# The sender's log lines keep the sender's logger name, whichever of its modules writes them.
log = logging.getLogger("hostvitals.agent.sender")

_ANSWERED = (Action.DONE, Action.DROP)
"""Answers that account for a frame: the spool no longer needs it."""
_FAILURE_REASONS = {
    Action.AUTH: "unauthorized",
    Action.THROTTLED: "throttled",
    Action.RETRY: "server",
}


class Rounds:
    """Runs the sender's rounds in the current configuration's lanes and keeps their books."""

    def __init__(
        self,
        config: DeliveryConfig,
        outbox: Outbox,
        *,
        stats: SendStats,
        flush_hint: FlushHint,
        pacer: CatchUpPacer,
        primary_recheck_s: float,
        clock: Callable[[], float],
    ) -> None:
        self._outbox = outbox
        self._stats = stats
        self._flush_hint = flush_hint
        self._pacer = pacer
        self._primary_recheck_s = primary_recheck_s
        self._clock = clock
        self._throttle = Throttle()
        self._healthy = True
        self.recovered = asyncio.Event()
        """Set whenever a collector took or rejected a frame: a backlog send waiting out its
        backoff stops waiting (``CatchUpPacer.back_off``)."""
        self._configure(config)

    # -- configuration --------------------------------------------------------------------

    def _configure(self, config: DeliveryConfig) -> None:
        self._failover = Failover(len(config.collector_urls), self._primary_recheck_s, self._clock)
        self._config = config
        self._encoding, self._compress = compressor(config.compression)
        self._headers: tuple[str | None, dict[str, str]] | None = None
        """The request headers for an encoding, built once per configuration."""
        self.fresh_lane = Lane("fresh", config)
        self.backlog_lane = Lane("backlog", config)

    def reconfigure(self, config: DeliveryConfig) -> None:
        """Take new URLs, token or compression, in new lanes; the old lanes close their
        connections once their rounds in flight finished.
        """
        old = (self.fresh_lane, self.backlog_lane)
        self._configure(config)
        for lane in old:
            lane.retire()

    @property
    def config(self) -> DeliveryConfig:
        return self._config

    @property
    def healthy(self) -> bool:
        """False from a failed round until the next successful one."""
        return self._healthy

    # -- one round ------------------------------------------------------------------------

    async def run(self, lane: Lane, item: Pending) -> None:
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
        settle = item.id if lane is self.fresh_lane else None
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
                self._flush_hint.heard(answer.flush_interval)
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
                if lane is self.backlog_lane:
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

    # -- outcome --------------------------------------------------------------------------

    def _delivered_to(self, index: int) -> None:
        if self._failover.answered(index):
            log.info("sending to collector %s", self._config.collector_urls[index])
        if not self._healthy:
            log.info("collector %s is reachable again", self._config.collector_urls[index])
        self._healthy = True
        self.recovered.set()

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
