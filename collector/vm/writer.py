"""Group commit to VictoriaMetrics: concurrent ingests share import requests.

Ingests :meth:`~VictoriaMetricsWriter.submit` their import lines and await the returned
future. A background thread takes what has queued up (up to ``batch_max_bytes``, waiting at
most ``max_delay_s`` for company after the first item) and POSTs it in one request. Every
future in the batch then resolves together. ``concurrency`` threads do this side by side, so
one slow import (VictoriaMetrics merging parts, a pause of its own) holds up only its batch
while the next batches go out through the other threads; what queues up during the writes
forms the next batches, so the batches grow with the load:

- VictoriaMetrics answered 2xx: the result is ``None``, the lines are stored.
- no answer (refused, timeout) or 5xx/429:
  :class:`~hostvitals.collector.vm.errors.BackendUnavailable`; the agent keeps the frame and
  retries, so the ingest answers 503.
- another 4xx: VictoriaMetrics refused lines the collector generated itself, which is a
  collector bug. A batch of several frames is retried one frame at a time so only the
  culprit fails, with :class:`~hostvitals.collector.vm.errors.BackendRejected` (the ingest
  answers 500).

An ingest can name its frame (``submit(body, frame=(agent, host, seq))``): once
VictoriaMetrics accepted a batch, the writer thread hands the frames written to ``on_written``
(the ingest ledger records them in one transaction) before it resolves their futures. So an
acknowledged frame is in the ledger, and the event loop, which every request waits on, does
no database write per frame.

The queue is bounded by bytes: :class:`~hostvitals.collector.vm.errors.QueueFull` is raised at
once when it is full (one item is always accepted into an empty queue, whatever its size).
:meth:`~VictoriaMetricsWriter.close` stops accepting and drains what is queued
(:class:`~hostvitals.collector.vm.errors.WriterClosed` afterwards).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

from hostvitals.collector.selfmetrics import SelfMetrics
from hostvitals.collector.vm.breaker import CircuitBreaker
from hostvitals.collector.vm.client import ImportTarget
from hostvitals.collector.vm.errors import (
    BackendError,
    BackendRejected,
    BackendUnavailable,
    QueueFull,
    WriterClosed,
    excerpt,
    retryable,
)

log = logging.getLogger(__name__)

FrameKey = tuple[str, str, int]
"""A frame's (agent id, host, sequence number)."""


@dataclass(frozen=True, slots=True)
class WriteStatus:
    last_write_ok: bool | None
    last_error: str | None
    last_write_at: float | None


@dataclass(slots=True)
class _Item:
    body: bytes
    future: Future[None]
    frame: FrameKey | None = None


class VictoriaMetricsWriter:
    def __init__(
        self,
        target: ImportTarget,
        metrics: SelfMetrics,
        *,
        batch_max_bytes: int,
        max_delay_s: float,
        queue_max_bytes: int,
        clock: Callable[[], float] = time.monotonic,
        breaker: CircuitBreaker | None = None,
        concurrency: int = 1,
        on_written: Callable[[list[FrameKey]], None] | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, not {concurrency}")
        self._concurrency = concurrency
        self._target = target
        self._breaker = breaker
        self._on_written = on_written
        self._metrics = metrics
        self._batch_max = batch_max_bytes
        self._max_delay = max_delay_s
        self._queue_max = queue_max_bytes
        self._clock = clock
        self._cond = threading.Condition()
        self._queue: deque[_Item] = deque()
        self._queued_bytes = 0
        self._closing = False
        self._threads: list[threading.Thread] = []
        self._status = WriteStatus(None, None, None)

    def status(self) -> WriteStatus:
        return self._status

    @property
    def queued_bytes(self) -> int:
        return self._queued_bytes

    @property
    def queue_max_bytes(self) -> int:
        return self._queue_max

    def _show_queue(self, queued: int) -> None:
        self._metrics.write_queue_bytes.set(queued)
        self._metrics.saturation_ratio.set(min(1.0, queued / self._queue_max))

    def start(self) -> None:
        with self._cond:
            self._start_locked()

    def _start_locked(self) -> None:
        if self._threads or self._closing:
            return
        for n in range(self._concurrency):
            thread = threading.Thread(
                target=self._run, name=f"victoriametrics-writer-{n}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def submit(self, body: bytes, frame: FrameKey | None = None) -> Future[None]:
        """Queue ``body`` for writing; never blocks. Raises QueueFull or WriterClosed.

        ``frame`` goes to ``on_written`` once the body is stored, before the future resolves.
        """
        future: Future[None] = Future()
        with self._cond:
            if self._closing:
                raise WriterClosed("the collector is shutting down")
            if self._queue and self._queued_bytes + len(body) > self._queue_max:
                raise QueueFull(
                    f"the write queue is full ({self._queued_bytes} of {self._queue_max} bytes)"
                )
            self._start_locked()
            was_empty = not self._queue
            self._queue.append(_Item(body, future, frame))
            self._queued_bytes += len(body)
            self._show_queue(self._queued_bytes)
            # Wake a writer only when there is something new for it to do: an item in an
            # empty queue (an idle writer starts a batch), or a full batch (the writer
            # gathering one sends it now). Waking the gathering writer for every item only
            # for it to wait again made a thread take the interpreter lock from the event
            # loop once per frame.
            if was_empty or self._queued_bytes >= self._batch_max:
                self._cond.notify()
        return future

    def close(self, timeout: float | None = None) -> None:
        """Stop accepting, write what is queued, and stop the threads (waits ``timeout``)."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
            threads = list(self._threads)
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        with self._cond:
            leftovers = list(self._queue)
            self._queue.clear()
            self._queued_bytes = 0
            self._show_queue(0)
        for item in leftovers:
            _resolve(item, WriterClosed("the collector shut down before the write"))

    def _run(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            try:
                self._write(batch)
            except Exception as exc:  # never let the writer thread die
                log.exception("writer failed on a batch")
                for item in batch:
                    _resolve(item, BackendUnavailable(f"internal writer error: {exc}"))

    def _next_batch(self) -> list[_Item] | None:
        with self._cond:
            while not self._queue:
                if self._closing:
                    return None
                self._cond.wait()
            deadline = self._clock() + self._max_delay
            while self._queued_bytes < self._batch_max and not self._closing:
                remaining = deadline - self._clock()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            batch: list[_Item] = []
            size = 0
            while self._queue and (not batch or size + len(self._queue[0].body) <= self._batch_max):
                item = self._queue.popleft()
                size += len(item.body)
                # An ingest that went away (client gone) is not written: it was not acknowledged.
                if item.future.set_running_or_notify_cancel():
                    batch.append(item)
            self._queued_bytes -= size
            self._show_queue(self._queued_bytes)
            if self._queue:  # more than a batch was waiting: another writer takes the rest
                self._cond.notify()
        return batch

    def _write(self, batch: list[_Item]) -> None:
        if not batch:
            return
        error = self._post(b"".join(item.body for item in batch), len(batch))
        if isinstance(error, BackendRejected) and len(batch) > 1:
            errors = [self._post(item.body, 1) for item in batch]
            written = [item for item, e in zip(batch, errors, strict=True) if e is None]
            recorded = self._record(written)
            for item, e in zip(batch, errors, strict=True):
                _resolve(item, e if e is not None else recorded)
            return
        recorded = self._record(batch) if error is None else None
        for item in batch:
            _resolve(item, error if error is not None else recorded)

    def _record(self, written: list[_Item]) -> BaseException | None:
        """Hand the frames written to ``on_written``; its failure is theirs to report."""
        frames = [item.frame for item in written if item.frame is not None]
        if not frames or self._on_written is None:
            return None
        try:
            self._on_written(frames)
        except Exception as exc:
            log.exception("recording %d written frames failed", len(frames))
            return exc
        return None

    def _post(self, body: bytes, frames: int) -> BackendError | None:
        metrics = self._metrics
        started = time.perf_counter()
        error: BackendError | None
        breaker = self._breaker
        if breaker is not None:
            breaker.write_started()
        try:
            status, text = self._target.post_import(body)
        except BackendUnavailable as exc:  # the transport says which VictoriaMetrics and why
            error = exc
        except Exception as exc:
            error = BackendUnavailable(f"VictoriaMetrics is unreachable: {exc}")
        else:
            if 200 <= status < 300:
                error = None
            elif retryable(status):
                error = BackendUnavailable(
                    f"VictoriaMetrics answered {status}: {excerpt(text)}", status=status
                )
            else:
                error = BackendRejected(
                    f"VictoriaMetrics refused the import with {status}: {excerpt(text)}",
                    status=status,
                )
        metrics.vm_write_duration.observe(time.perf_counter() - started)
        if breaker is not None:
            # Refused lines are the collector's bug, not a sign of the store's health.
            breaker.write_finished(error is None or isinstance(error, BackendRejected))
        if error is None:
            result = "ok"
        elif isinstance(error, BackendRejected):
            result = "rejected"
        else:
            result = "unavailable"
        metrics.vm_writes.labels(result).inc()
        metrics.vm_write_bytes.inc(len(body))
        metrics.vm_write_frames.inc(frames)
        if error is None:
            self._status = WriteStatus(True, None, time.time())
        else:
            log.warning("write to VictoriaMetrics failed: %s", error)
            self._status = WriteStatus(False, str(error), time.time())
        return error


def _resolve(item: _Item, error: BaseException | None) -> None:
    future = item.future
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)
