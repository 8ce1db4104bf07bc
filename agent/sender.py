"""Pushes queued frames to the collector over HTTP.

One frame at a time, oldest first, to ``<collector>/api/v1/ingest``. What an answer means is
decided by ``agent.delivery.classify``. Failed rounds are retried with tenacity: exponential
backoff with full jitter (1 s doubling up to a cap), or as long as Retry-After says when the
collector sent one. With several collector URLs, a round tries them in order starting with the
one that worked last, and goes back to the first one once it answers again (it is probed
every ``primary_recheck_s`` while another one is in use).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_never,
    wait_random_exponential,
)

from agent.delivery import INGEST_PATH, Action, classify, compressor, parse_retry_after
from agent.outbox import FrameQueue, QueuedFrame
from agent.samplers.base import NO_LABELS, Row, labels
from agent.throttle import Throttle
from shared.codec import encode_frame
from shared.protocol import CONTENT_TYPE, Frame

log = logging.getLogger(__name__)

SEND_ERROR_REASONS = ("connection", "timeout", "unauthorized", "throttled", "server", "rejected")
DROP_REASONS = ("rejected", "queue_full")
MAX_LOGGED_BODY = 512
MIN_RETRY_AFTER_S = 0.1
USER_AGENT = "hostvitals-agent/0.1"


@dataclass(frozen=True, slots=True)
class SenderSettings:
    urls: tuple[str, ...]
    token: str | None = None
    compression: str = "zstd"
    request_timeout_s: float = 10.0
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 60.0
    retry_after_max_s: float = 600.0
    primary_recheck_s: float = 30.0


class RoundFailed(Exception):
    """No collector took the frame this round; retry later."""

    def __init__(
        self, reason: str, retry_after_s: float | None = None, *, detail: str = ""
    ) -> None:
        super().__init__(detail or reason)
        self.reason = reason
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    body: str
    retry_after_s: float | None


class Sender:
    """Delivers frames from a ``FrameQueue``; ``run()`` until cancelled, then ``drain()``."""

    def __init__(
        self,
        settings: SenderSettings,
        queue: FrameQueue,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not settings.urls:
            raise ValueError("at least one collector URL is needed")
        self._settings = settings
        self._queue = queue
        self._sleep = sleep
        self._clock = clock
        self._endpoints = [url.rstrip("/") + INGEST_PATH for url in settings.urls]
        self._encoding, self._compress = compressor(settings.compression)
        self._backoff = wait_random_exponential(
            multiplier=settings.backoff_initial_s, max=settings.backoff_max_s
        )
        self._session: aiohttp.ClientSession | None = None
        self._wakeup = asyncio.Event()
        self._throttle = Throttle()
        self._active = 0
        self._primary_due = 0.0
        self._body: tuple[object, bytes] | None = None
        # Counters are read from a sampler thread: fixed keys, so iteration is safe.
        self._send_errors = dict.fromkeys(SEND_ERROR_REASONS, 0)
        self._frames_sent = 0
        self._rejected_samples = 0

    # -- feeding -------------------------------------------------------------------------

    def submit(self, frame: Frame) -> None:
        """Encode a frame and queue it for delivery."""
        self.submit_encoded(encode_frame(frame), frame.sample_count())

    def submit_encoded(self, data: bytes, sample_count: int) -> None:
        self._queue.put(data, sample_count)
        self._wakeup.set()

    # -- running -------------------------------------------------------------------------

    async def run(self) -> None:
        """Deliver frames as they come, forever; cancel to stop."""
        while True:
            if self._queue.peek() is None:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            retrying = AsyncRetrying(
                retry=retry_if_exception_type(RoundFailed),
                wait=self._wait,
                stop=stop_never,
                sleep=self._sleep,
                reraise=True,
            )
            async for attempt in retrying:
                with attempt:
                    await self.deliver_head()

    async def drain(self, timeout_s: float) -> bool:
        """A last bounded effort: send what is queued until it is empty, a round fails or
        ``timeout_s`` passes. True if the queue is empty.
        """
        deadline = self._clock() + timeout_s
        while self._queue.peek() is not None:
            remaining = deadline - self._clock()
            if remaining <= 0:
                break
            try:
                await asyncio.wait_for(self.deliver_head(), remaining)
            except (RoundFailed, TimeoutError):
                break
        return self._queue.peek() is None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, RoundFailed) and exc.retry_after_s is not None:
            return min(max(exc.retry_after_s, MIN_RETRY_AFTER_S), self._settings.retry_after_max_s)
        return float(self._backoff(state))

    # -- one round -----------------------------------------------------------------------

    async def deliver_head(self) -> None:
        """Offer the oldest frame to the collectors once; raises RoundFailed if none took it."""
        item = self._queue.peek()
        if item is None:
            return
        body = self._encoded(item)
        failure: RoundFailed | None = None
        for index in self._order():
            answer = await self._post(index, body)
            if isinstance(answer, RoundFailed):
                failure = answer
                self._failed(index, answer.reason, str(answer))
                continue
            action = classify(answer.status)
            if action is Action.DONE:
                self._queue.ack(item)
                self._frames_sent += 1
                self._delivered(index)
                return
            if action is Action.DROP:
                self._queue.ack(item)
                self._send_errors["rejected"] += 1
                self._rejected_samples += item.sample_count
                self._throttle.log(
                    log,
                    logging.ERROR,
                    ("rejected", answer.status),
                    "collector %s rejected a frame of %d samples with %d; dropped it: %s",
                    self._settings.urls[index],
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
            failure = RoundFailed(
                reason, answer.retry_after_s if action is Action.THROTTLED else None
            )
            self._failed(index, reason, f"HTTP {answer.status}: {answer.body}")
        assert failure is not None
        raise failure

    def _order(self) -> list[int]:
        """Collector indexes to try this round: the active one first (or the first one when
        it is due for a recheck), then the rest in configured order.
        """
        first = self._active
        if first != 0 and self._clock() >= self._primary_due:
            first = 0
        return [first, *(i for i in range(len(self._endpoints)) if i != first)]

    def _delivered(self, index: int) -> None:
        if index != self._active:
            log.info("sending to collector %s", self._settings.urls[index])
        self._active = index
        if index != 0:
            self._primary_due = self._clock() + self._settings.primary_recheck_s

    def _failed(self, index: int, reason: str, detail: str) -> None:
        self._send_errors[reason] += 1
        if index == 0 and self._active != 0:
            self._primary_due = self._clock() + self._settings.primary_recheck_s
        level = logging.ERROR if reason == "unauthorized" else logging.WARNING
        self._throttle.log(
            log,
            level,
            (index, reason),
            "sending to %s failed (%s): %s",
            self._settings.urls[index],
            reason,
            detail,
        )

    def _encoded(self, item: QueuedFrame) -> bytes:
        if self._compress is None:
            return item.data
        if self._body is None or self._body[0] != item.key:
            self._body = (item.key, self._compress(item.data))
        return self._body[1]

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": CONTENT_TYPE, "User-Agent": USER_AGENT}
        if self._encoding is not None:
            headers["Content-Encoding"] = self._encoding
        if self._settings.token:
            headers["Authorization"] = f"Bearer {self._settings.token}"
        return headers

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=len(self._endpoints)),
                timeout=aiohttp.ClientTimeout(total=self._settings.request_timeout_s),
                auto_decompress=True,
            )
        return self._session

    async def _post(self, index: int, body: bytes) -> _Answer | RoundFailed:
        try:
            async with self._client().post(
                self._endpoints[index], data=body, headers=self._headers()
            ) as response:
                raw = await response.content.read(MAX_LOGGED_BODY)
                return _Answer(
                    response.status,
                    raw.decode("utf-8", "replace"),
                    parse_retry_after(response.headers.get("Retry-After")),
                )
        except TimeoutError:
            return RoundFailed(
                "timeout", detail=f"no answer within {self._settings.request_timeout_s:g} s"
            )
        except (aiohttp.ClientError, OSError) as exc:
            return RoundFailed("connection", detail=f"{type(exc).__name__}: {exc}")

    # -- health --------------------------------------------------------------------------

    @property
    def frames_sent(self) -> int:
        return self._frames_sent

    @property
    def rejected_samples(self) -> int:
        return self._rejected_samples

    def send_errors(self) -> dict[str, int]:
        return dict(self._send_errors)

    def stats_rows(self) -> list[Row]:
        """Delivery counters and queue gauges, as agent metrics."""
        rows: list[Row] = [
            ("hostvitals_agent_send_errors_total", labels(reason=reason), count)
            for reason, count in self.send_errors().items()
        ]
        rows.append(("hostvitals_agent_frames_sent_total", NO_LABELS, self._frames_sent))
        dropped = {"rejected": self._rejected_samples, "queue_full": self._queue.dropped_samples}
        rows.extend(
            ("hostvitals_agent_dropped_samples_total", labels(reason=reason), dropped[reason])
            for reason in DROP_REASONS
        )
        rows.append(("hostvitals_agent_spool_frames", NO_LABELS, len(self._queue)))
        rows.append(("hostvitals_agent_spool_bytes", NO_LABELS, self._queue.size_bytes))
        return rows
