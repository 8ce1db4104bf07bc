"""The ingest path, from request headers and body stream to a written frame.

(credential checked before, by the access middleware) -> content type and encoding ->
bounded read -> bounded decompression -> decode -> may this credential write it? ->
already written? -> policy and series budget -> import lines -> rollup buckets marked ->
circuit breaker -> group-committed write -> ledger -> live view -> flush advice (how often the
agent should flush while someone watches its host: ``hostvitals.collector.ingest.flushadvice``).
The writer enters written frames in the ledger itself, a batch at a time in its own thread,
before it acknowledges them (the writer's ``on_written``, wired by the app to
:meth:`FrameLedger.remember_many`).
Each refusal raises :class:`~hostvitals.collector.errors.IngestRejected` (the HTTP answer) and is
counted by reason; nothing of a refused frame is written.

Exactly-once effect: a frame already in the ledger is answered 204 without a write. Two
copies of one frame arriving together: the second waits for the first and is then answered
like a duplicate (or, if the first failed, tries the write itself). Across collector
replicas, VictoriaMetrics' ``-dedup.minScrapeInterval`` stores a sample written twice once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterable, Callable, Mapping
from dataclasses import dataclass
from typing import Final

from hostvitals.collector.config.limits import LimitsSettings
from hostvitals.collector.errors import IngestRejected
from hostvitals.collector.ingest import body
from hostvitals.collector.ingest.decoding import BodyDecoder, decode
from hostvitals.collector.ingest.dedup import FrameLedger
from hostvitals.collector.ingest.flushadvice import FlushAdvisor
from hostvitals.collector.ingest.hostbudget import HostSeriesBudget
from hostvitals.collector.ingest.importlines import ImportLines, frame_to_import_lines
from hostvitals.collector.ingest.validate import PolicyError, validate_frame
from hostvitals.collector.live.current import CurrentStore
from hostvitals.collector.rollups.coldpath import ColdPath, ColdUnavailable
from hostvitals.collector.rollups.queue import QueueFull as RollupQueueFull
from hostvitals.collector.rollups.queue import RollupQueue
from hostvitals.collector.selfmetrics import SelfMetrics
from hostvitals.collector.tracing import span
from hostvitals.collector.vm.breaker import CircuitBreaker
from hostvitals.collector.vm.errors import (
    BackendRejected,
    BackendUnavailable,
    QueueFull,
    WriterClosed,
)
from hostvitals.collector.vm.writer import VictoriaMetricsWriter
from hostvitals.shared.protocol import Frame, SeriesKey, series_key

FrameCheck = Callable[[str, str], None]
"""Called with a decoded frame's agent id and host; raises IngestRejected (403) when the
request's credential may not write as them."""

QUEUE_FULL_RETRY_AFTER_S: Final = 1


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to an accepted frame."""

    host: str
    samples: int
    duplicate: bool
    flush_interval_s: float | None = None
    """Seconds to ask the agent to flush at (someone watches its host); None: ask nothing."""


@dataclass(frozen=True, slots=True)
class _Prepared:
    frame: Frame
    lines: ImportLines | None  # None: already written
    cold: bool = False  # has ticks for buckets past the raw tier's horizon (coldpath.py)
    keys: list[SeriesKey] | None = None  # of frame.series, for the live view


class IngestPipeline:
    def __init__(
        self,
        *,
        limits: LimitsSettings,
        writer: VictoriaMetricsWriter,
        current: CurrentStore,
        recent: FrameLedger,
        metrics: SelfMetrics,
        retry_after_s: int,
        clock: Callable[[], float] = time.time,
        budget: HostSeriesBudget | None = None,
        breaker: CircuitBreaker | None = None,
        rollups: RollupQueue | None = None,
        cold: ColdPath | None = None,
        advisor: FlushAdvisor | None = None,
        decoder: BodyDecoder | None = None,
    ) -> None:
        self._limits = limits
        self._writer = writer
        self._current = current
        self._recent = recent
        self._metrics = metrics
        self._retry_after = str(retry_after_s)
        self._clock = clock
        self._budget = budget
        self._breaker = breaker
        self._rollups = rollups
        self._cold = cold
        self._advisor = advisor
        self._decoder = decoder or BodyDecoder(limits)
        # Frames being written right now, so a concurrent copy waits instead of writing.
        self._inflight: dict[tuple[str, str, int], asyncio.Future[bool]] = {}

    async def ingest(
        self,
        headers: Mapping[str, str],
        chunks: AsyncIterable[bytes],
        check: FrameCheck | None = None,
    ) -> Outcome:
        """Accept one frame; raises IngestRejected with the answer to give otherwise.

        ``check`` (see :data:`FrameCheck`) runs before anything else looks at the frame.
        """
        started = time.perf_counter()
        try:
            return await self._ingest(headers, chunks, check)
        except IngestRejected as exc:
            self._metrics.ingest_rejected.labels(exc.reason).inc()
            raise
        finally:
            self._metrics.ingest_duration.observe(time.perf_counter() - started)

    async def _ingest(
        self, headers: Mapping[str, str], chunks: AsyncIterable[bytes], check: FrameCheck | None
    ) -> Outcome:
        limits = self._limits
        body.check_content_type(headers.get("content-type"))
        encoding = body.parse_encoding(headers.get("content-encoding"))
        body.check_content_length(headers.get("content-length"), limits.max_body_bytes)
        with span("ingest.receive") as receiving:
            raw = await body.read_limited(chunks, limits.max_body_bytes)
            if receiving is not None:
                receiving.set_attributes({"http.request.body.size": len(raw)})
        self._metrics.ingest_bytes.inc(len(raw))

        now_ms = int(self._clock() * 1000)
        # Heavy bodies (large, or large once decompressed) are handled in a worker thread.
        prepared, offloaded = await self._decoder.run(
            len(raw), lambda inline: self._prepare(raw, encoding, now_ms, check, inline)
        )
        frame = prepared.frame
        lines = prepared.lines
        if lines is None:
            return self._duplicate(frame)
        key = (frame.agent_id, frame.host, frame.seq)
        with span("ingest.dedupe.inflight"):
            waited = False
            while (pending := self._inflight.get(key)) is not None:
                waited = True
                if await asyncio.shield(pending):
                    return self._duplicate(frame)
            # Written while this copy was being decoded or waited? (Without an await since
            # the ledger was asked in _prepare, nothing else can have written it.)
            if (offloaded or waited) and self._recent.seen(*key):
                return self._duplicate(frame)
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._inflight[key] = done
        try:
            cold_samples = await self._apply_cold(frame, now_ms) if prepared.cold else 0
            if lines.series:  # the writer enters the frame in the ledger with its batch
                with span("ingest.write", {"hostvitals.samples": lines.samples}):
                    await self._write(lines, key)
                received_at = self._clock()
            else:  # a frame of gaps only has nothing to write
                received_at = self._clock()
                self._recent.remember(frame.agent_id, frame.host, frame.seq, received_at)
        except BaseException:
            done.set_result(False)
            raise
        else:
            done.set_result(True)
        finally:
            del self._inflight[key]
        # A host asked to flush every tick sends short frames: they do not shorten the flush
        # period its status is judged by (its agent returns to longer frames when asked to).
        fast = self._advisor is not None and self._advisor.fast(frame.host)
        self._current.update(frame, received_at, prepared.keys, keep_period=fast)
        self._metrics.ingest_frames.inc()
        self._metrics.samples_written.inc(lines.samples)
        return self._outcome(frame, lines.samples + cold_samples, duplicate=False)

    def _duplicate(self, frame: Frame) -> Outcome:
        self._metrics.ingest_duplicates.inc()
        return self._outcome(frame, 0, duplicate=True)

    def _outcome(self, frame: Frame, samples: int, *, duplicate: bool) -> Outcome:
        advice = self._advisor.advise(frame) if self._advisor is not None else None
        return Outcome(frame.host, samples, duplicate, advice)

    def _prepare(
        self, raw: bytes, encoding: str, now_ms: int, check: FrameCheck | None, inline: bool
    ) -> _Prepared:
        with span("ingest.decode", {"hostvitals.encoding": encoding}) as decoding:
            frame = self._decoder.decode(raw, encoding, inline=inline)
            if decoding is not None:
                decoding.set_attributes(
                    {"hostvitals.host": frame.host, "hostvitals.series": len(frame.series)}
                )
        if check is not None:  # before the ledger: a forged frame must not look written
            check(frame.agent_id, frame.host)
        with span("ingest.dedupe") as deduping:
            seen = self._recent.seen(frame.agent_id, frame.host, frame.seq)
            if deduping is not None:
                deduping.set_attribute("hostvitals.duplicate", seen)
        if seen:
            return _Prepared(frame, None)
        with span("ingest.validate"):
            keys = [series_key(x.metric, x.labels) for x in frame.series]
            try:
                validate_frame(frame, self._limits, now_ms, keys)
                if self._budget is not None:
                    self._budget.admit(frame.agent_id, frame.host, keys, now_ms / 1000.0)
            except PolicyError as exc:
                raise IngestRejected(422, exc.reason, exc.message) from None
        hot: Frame | None = frame
        since_ms: int | None = None
        cold = self._cold is not None and self._cold.involves(frame, now_ms)
        if cold and self._cold is not None:  # ticks past the raw horizon go the cold path
            part = self._cold.split(frame, now_ms)
            hot, since_ms = part.hot, part.since_ms
        lines = frame_to_import_lines(hot) if hot is not None else ImportLines(b"", 0, 0)
        if hot is not None and lines.series and self._rollups is not None:
            # Before the write: a crash after it must still leave the buckets marked.
            try:
                self._rollups.mark(
                    frame.host,
                    hot.timestamps_ms[0],
                    hot.timestamps_ms[-1],
                    now_ms / 1000.0,
                    since_ms=since_ms,
                )
            except RollupQueueFull as exc:
                raise IngestRejected(
                    503,
                    "rollup_queue_full",
                    f"overloaded: {exc}; retry later",
                    headers={"Retry-After": self._retry_after},
                ) from None
        return _Prepared(frame, lines, cold, keys)

    async def _apply_cold(self, frame: Frame, now_ms: int) -> int:
        assert self._cold is not None
        try:
            return await asyncio.to_thread(self._cold.apply, frame, now_ms)
        except ColdUnavailable as exc:
            raise IngestRejected(
                503,
                "cold_unavailable",
                f"cannot write late samples to the rollup tiers: {exc}",
                headers={"Retry-After": self._retry_after},
            ) from None

    async def _write(self, lines: ImportLines, frame: tuple[str, str, int]) -> None:
        retry = {"Retry-After": self._retry_after}
        if self._breaker is not None and (wait := self._breaker.admit()) is not None:
            raise IngestRejected(
                503,
                "breaker_open",
                "VictoriaMetrics is down or slow (circuit breaker open); keep the frame and "
                f"retry in {wait}s",
                headers={"Retry-After": str(wait)},
            )
        try:
            future = self._writer.submit(lines.body, frame)
        except QueueFull as exc:
            raise IngestRejected(
                503,
                "queue_full",
                f"overloaded: {exc}; retry later",
                headers={"Retry-After": str(QUEUE_FULL_RETRY_AFTER_S)},
            ) from None
        except WriterClosed as exc:
            raise IngestRejected(503, "shutting_down", str(exc), headers=retry) from None
        try:
            await asyncio.wrap_future(future)
        except BackendRejected as exc:
            raise IngestRejected(
                500, "vm_rejected", f"the collector produced lines the store refused: {exc}"
            ) from None
        except WriterClosed as exc:
            raise IngestRejected(503, "shutting_down", str(exc), headers=retry) from None
        except BackendUnavailable as exc:
            raise IngestRejected(
                503, "vm_unavailable", f"cannot write to the store: {exc}", headers=retry
            ) from None


__all__ = ["IngestPipeline", "Outcome", "decode"]
