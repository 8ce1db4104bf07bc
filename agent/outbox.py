"""Where encoded frames wait for the collector: the on-disk spool, seen from asyncio.

Every frame is appended to the spool (``<state_dir>/spool``) before anything tries to send
it, and leaves it only when it was delivered or given up on. Spool calls may fsync, so they
run in a worker thread. When the spool is full or a frame is older than the age bound, the
spool drops the oldest frames; the outbox counts the samples lost that way by reason and logs
a warning at most once a minute. A frame the collector took, or takes from a round that was
in flight when the spool dropped it, is not lost: the sender registers its rounds here
(``start_send``, ``end_send``) and the ledger (``hostvitals.agent.drops``) keeps the books.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from hostvitals.agent.config import SpoolConfig
from hostvitals.agent.drops import DropLedger
from hostvitals.agent.spool import FsyncPolicy, Record, RecordId, Spool, is_disk_error
from hostvitals.agent.throttle import Throttle

log = logging.getLogger(__name__)

SPOOL_DIR = "spool"


SEGMENT_BYTES = 4 * 2**20
"""Segment size of the spool (smaller for a small spool: a quarter of it, at least 4 KiB)."""


@dataclass(frozen=True, slots=True)
class OutboxCounts:
    pending_frames: int
    pending_bytes: int
    full_samples: int
    """Samples of frames dropped because the spool was full (and never delivered)."""
    expired_samples: int
    """Samples of frames dropped because they were older than the age bound (and never
    delivered)."""
    corrupt_records: int
    """Damaged spans skipped (a torn tail after a crash, a flipped byte)."""
    disk_full_samples: int = 0
    """Samples of frames the spool could not take because its disk was full (ENOSPC, EDQUOT,
    EIO): never spooled, never sent."""


class Outbox:
    """A thread-safe facade over the spool with drop accounting; async methods for the loop."""

    def __init__(
        self, directory: Path, config: SpoolConfig, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.directory = directory
        self._ledger = DropLedger()
        self._spool = Spool(
            directory,
            max_bytes=config.max_bytes,
            max_age_s=config.max_age,
            segment_bytes=min(SEGMENT_BYTES, max(config.max_bytes // 4, 4096)),
            fsync=FsyncPolicy(config.fsync),
            fsync_interval_s=config.fsync_interval,
            clock=clock,
            on_drop=self._ledger.spool_dropped,
        )
        self._throttle = Throttle()
        self._lock = threading.Lock()
        self._seen_lost = (0, 0)
        self._oversized_samples = 0
        self._disk_full_samples = 0
        self._disk_full = False
        self._episode_samples = 0
        stats = self._spool.stats()
        if stats.corrupt_records:
            log.warning(
                "spool %s: skipped %d damaged record span(s) (%d bytes) left by a crash or "
                "disk error; the records around them are kept",
                directory,
                stats.corrupt_records,
                stats.corrupt_bytes,
            )

    # -- blocking calls (any thread) ------------------------------------------------------

    def append_now(self, data: bytes, sample_count: int) -> RecordId | None:
        """Append a frame; None if it can never fit in the spool (dropped and counted)."""
        try:
            record_id = self._spool.append(data, sample_count)
        except ValueError:
            self._note_oversized(len(data), sample_count)
            return None
        except OSError as exc:
            if not is_disk_error(exc):
                raise
            self.dropped_on_full_disk(exc, sample_count)
            return None
        self._note_disk_ok()
        self._check_drops()
        return record_id

    @property
    def disk_full(self) -> bool:
        """Whether the last append failed on a full disk, or the read position could not be
        written (no I/O: may be called on the event loop)."""
        with self._lock:
            full = self._disk_full
        return full or self._spool.position_behind

    def counts(self) -> OutboxCounts:
        stats = self._spool.stats()  # applies the age bound first
        lost = self._ledger.lost()
        with self._lock:
            oversized = self._oversized_samples
        return OutboxCounts(
            pending_frames=stats.pending_records,
            pending_bytes=stats.pending_bytes,
            full_samples=lost.full + oversized,
            expired_samples=lost.expired,
            corrupt_records=stats.corrupt_records,
            disk_full_samples=self.disk_full_samples(),
        )

    def disk_full_samples(self) -> int:
        with self._lock:
            return self._disk_full_samples

    def gone(self, record_id: RecordId) -> bool:
        """Whether a record is no longer in the spool (delivered, or dropped by a bound)."""
        return record_id < self._spool.head_id()

    def drained(self) -> bool:
        """Whether the spool holds nothing (no I/O: may be called on the event loop)."""
        return self._spool.head_id() >= self._spool.end_id()

    def start_send(self, record_id: RecordId, sample_count: int) -> bool:
        """A round is about to offer this frame; False if the spool no longer holds it (then
        there is nothing to send, and the drop was counted). Every True is followed by one
        ``end_send``.
        """
        self._ledger.sending(record_id, sample_count)
        if self.gone(record_id):  # dropped before or after it was registered
            self._ledger.sent(record_id, delivered=False)
            return False
        return True

    def end_send(self, record_id: RecordId, delivered: bool) -> None:
        """The round ended: ``delivered`` if the collector answered for the frame (took it or
        rejected it). A frame the spool dropped meanwhile is lost only if not delivered.
        """
        self._ledger.sent(record_id, delivered)

    def settle_now(self, record_id: RecordId) -> bool:
        """The collector answered for this frame (took it or rejected it): acknowledge it at
        once if it is the oldest in the spool, in the caller's thread (the sender's round), so
        that the backlog lane need not read the spool back to acknowledge it. False if older
        records are still pending: then the backlog lane acknowledges it in order, as usual.
        """
        self._ledger.sent(record_id, delivered=True)
        if not self._spool.ack_head(record_id):
            return False
        self._ledger.acknowledged(record_id)
        return True

    def flush_now(self) -> None:
        self._spool.flush()

    def close(self) -> None:
        self._spool.close()

    # -- async calls (event loop) ---------------------------------------------------------

    async def append(self, data: bytes, sample_count: int) -> RecordId | None:
        return await asyncio.to_thread(self.append_now, data, sample_count)

    async def peek(self, max_records: int, max_bytes: int) -> list[Record]:
        return await asyncio.to_thread(self._spool.peek, max_records, max_bytes)

    async def ack(self, record_id: RecordId) -> None:
        await asyncio.to_thread(self._spool.ack, record_id)
        self._ledger.acknowledged(record_id)

    async def ack_delivered(self, records: Sequence[Record]) -> RecordId | None:
        """Acknowledge the leading ``records`` that were delivered (by any round, in any
        order); the last one acknowledged, None if the first one was not delivered.
        """
        done = self._ledger.delivered_run(record.id for record in records)
        if done is not None:
            await self.ack(done)
        return done

    async def flush(self) -> None:
        await asyncio.to_thread(self._spool.flush)

    # -- drop accounting ------------------------------------------------------------------

    def _note_oversized(self, size: int, sample_count: int) -> None:
        with self._lock:
            self._oversized_samples += sample_count
        self._throttle.log(
            log,
            logging.WARNING,
            "oversized",
            "dropped a frame of %d bytes (%d samples): larger than the whole spool",
            size,
            sample_count,
        )

    def dropped_on_full_disk(self, exc: OSError, sample_count: int) -> None:
        """Samples a full disk did not take (a frame the spool could not append, or one that
        got no sequence number): counted as disk_full, logged once per episode."""
        with self._lock:
            self._disk_full_samples += sample_count
            self._episode_samples += sample_count
            first, self._disk_full = not self._disk_full, True
        if first:
            log.error(
                "spool %s: cannot write (%s): dropping new frames, counted as disk_full, "
                "until there is room again; frames already spooled are kept and sent",
                self.directory,
                exc.strerror or exc,
            )

    def _note_disk_ok(self) -> None:
        with self._lock:
            ended, self._disk_full = self._disk_full, False
            samples, self._episode_samples = self._episode_samples, 0
        if ended:
            log.warning(
                "spool %s: writing again; %d samples were dropped while the disk was full",
                self.directory,
                samples,
            )

    def _check_drops(self) -> None:
        lost = self._ledger.lost()
        with self._lock:
            before_full, before_expired = self._seen_lost
            self._seen_lost = (lost.full, lost.expired)
        if lost.full > before_full:
            self._throttle.log(
                log,
                logging.WARNING,
                "full",
                "spool %s is full: dropped the oldest frames, %d samples so far "
                "(collector unreachable for too long? raise spool_max_bytes)",
                self.directory,
                lost.full,
            )
        if lost.expired > before_expired:
            self._throttle.log(
                log,
                logging.WARNING,
                "expired",
                "spool %s: dropped frames older than spool_max_age, %d samples so far",
                self.directory,
                lost.expired,
            )
