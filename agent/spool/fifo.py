"""The spool itself: a bounded, crash-safe FIFO of byte records in a directory.

See the package docstring for the guarantees. This module holds the spool's lock, checks its
arguments and appends records; the queue of pending records is ``chain``, syncing is
``durability`` and what is found on open is ``recovery``.
"""

from __future__ import annotations

import contextlib
import fcntl
import math
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from hostvitals.agent.spool.chain import SegmentChain
from hostvitals.agent.spool.durability import Durability
from hostvitals.agent.spool.errors import SpoolClosedError, SpoolError, SpoolLockedError
from hostvitals.agent.spool.format import (
    HEADER_SIZE,
    MAX_INDEX,
    MAX_PAYLOAD,
    MAX_WEIGHT,
    encode_record,
)
from hostvitals.agent.spool.recovery import recover
from hostvitals.agent.spool.segments import Segment, segment_name
from hostvitals.agent.spool.values import Dropped, FsyncPolicy, Record, RecordId, SpoolStats

LOCK_FILE = "lock"


class Spool:
    """A persistent FIFO of byte records; see the package docstring for its guarantees.

    Safe to call from several threads: every public method holds one lock.
    """

    def __init__(
        self,
        directory: Path,
        *,
        max_bytes: int = 256 * 2**20,
        max_age_s: float = 7 * 86400,
        segment_bytes: int = 4 * 2**20,
        fsync: FsyncPolicy = FsyncPolicy.INTERVAL,
        fsync_interval_s: float = 1.0,
        clock: Callable[[], float] = time.time,
        on_drop: Callable[[Dropped], None] | None = None,
    ) -> None:
        """``on_drop`` is told of every drop as it happens, under the spool's lock (from
        whichever thread made the call that dropped): it must be quick and must not call the
        spool.
        """
        _check_int("max_bytes", max_bytes, HEADER_SIZE)
        _check_int("segment_bytes", segment_bytes, 1)
        if not max_age_s > 0:
            raise ValueError(f"max_age_s must be positive, got {max_age_s!r}")
        if not (math.isfinite(fsync_interval_s) and fsync_interval_s >= 0):
            raise ValueError(f"fsync_interval_s must be >= 0, got {fsync_interval_s!r}")
        if not callable(clock):
            raise TypeError("clock must be callable")
        if on_drop is not None and not callable(on_drop):
            raise TypeError("on_drop must be callable")
        policy = FsyncPolicy(fsync)
        self._directory = Path(directory)
        self._max_bytes = max_bytes
        self._segment_bytes = segment_bytes
        self._clock = clock
        self._on_drop = on_drop
        self._lock = threading.Lock()
        self._write_fd = -1
        self._lock_fd = -1
        self._directory_fd = -1
        self._closed = False

        self._directory.mkdir(parents=True, exist_ok=True)
        try:
            self._directory_fd = os.open(self._directory, os.O_RDONLY | os.O_DIRECTORY)
            self._lock_fd = _lock_directory(self._directory)
            self._durability = Durability(
                self._directory, self._directory_fd, policy, float(fsync_interval_s)
            )
            self._open(max_age_s)
        except BaseException:
            self._release()
            raise

    def _open(self, max_age_s: float) -> None:
        recovered = recover(self._directory)
        self._durability.data_dirty = recovered.data_dirty
        self._durability.directory_dirty = recovered.directory_dirty
        self._chain = SegmentChain(
            self._directory,
            recovered,
            self._durability,
            max_bytes=self._max_bytes,
            max_age_s=float(max_age_s),
            on_drop=self._on_drop,
        )
        if recovered.segments:
            tail = recovered.segments[-1]
            self._write_fd = os.open(tail.path, os.O_WRONLY | os.O_CLOEXEC)
        else:
            if recovered.next_index > MAX_INDEX:
                raise SpoolError(f"spool {self._directory}: segment index space exhausted")
            self._create_segment(recovered.next_index)
        self._chain.normalize_head()
        self._finish()

    # -- public API ---------------------------------------------------------------------------

    def append(self, payload: bytes | bytearray | memoryview, weight: int = 1) -> RecordId:
        """Add a record at the tail and return its id; never waits for the consumer.

        To stay within ``max_bytes`` the oldest records are dropped (and counted) first.
        Raises ValueError for a record that could never fit (header plus payload larger than
        ``max_bytes``) or a weight outside 0..2**32-1. Empty payloads are accepted.
        """
        if not isinstance(payload, bytes | bytearray | memoryview):
            raise TypeError(f"payload must be bytes, not {type(payload).__name__}")
        _check_weight(weight)
        data = bytes(payload)
        size = HEADER_SIZE + len(data)
        if size > self._max_bytes or len(data) > MAX_PAYLOAD:
            raise ValueError(
                f"record of {len(data)} payload bytes (+{HEADER_SIZE} header) "
                f"exceeds the spool limit of {self._max_bytes} bytes"
            )
        with self._lock:
            self._check_open()
            now = self._now()
            self._chain.expire(now)
            self._chain.make_room(size)
            segment = self._chain.segments[-1]
            if segment.size > 0 and segment.size + size > self._segment_bytes:
                segment = self._roll()
            record_id = RecordId(segment.index, segment.size)
            self._write(segment, encode_record(data, weight, now))
            self._chain.appended(Record(record_id, data, weight, now))
            segment.records += 1
            segment.weight += weight
            segment.newest = max(segment.newest, now)
            self._finish()
            return record_id

    def peek(self, max_records: int = 1, max_bytes: int | None = None) -> list[Record]:
        """The oldest pending records, oldest first, without removing them.

        Returns at most ``max_records`` records and stops before the payloads would exceed
        ``max_bytes``, except that the first record is always returned so that one large
        record cannot block the queue. Empty when nothing is pending.
        """
        _check_int("max_records", max_records, 1)
        if max_bytes is not None:
            _check_int("max_bytes", max_bytes, 1)
        with self._lock:
            self._check_open()
            self._chain.expire(self._now())
            out = self._chain.peek(max_records, max_bytes)
            self._finish()
            return out

    def ack(self, record_id: RecordId) -> None:
        """Mark every record up to and including ``record_id`` as consumed.

        Ids of records already consumed or dropped are ignored. Raises ValueError for an id
        past the end of the data (it cannot have come from peek()).
        """
        if not isinstance(record_id, RecordId):
            raise TypeError(f"record_id must be a RecordId, not {type(record_id).__name__}")
        with self._lock:
            self._check_open()
            tail = self._chain.segments[-1]
            if record_id >= RecordId(tail.index, tail.size):
                raise ValueError(f"unknown record id {record_id}: past the end of the spool")
            self._chain.ack(record_id)
            self._finish()

    def ack_head(self, record_id: RecordId) -> bool:
        """Acknowledge ``record_id`` if it is the oldest pending record (nothing older is
        left to deliver); False, and nothing done, if it is not.
        """
        with self._lock:
            self._check_open()
            if self._chain.read_id() != record_id:
                return False
            self._chain.ack(record_id)
            self._finish()
            return True

    def head_id(self) -> RecordId:
        """Where the pending records begin: every record with a smaller id is gone (consumed
        or dropped).
        """
        with self._lock:
            self._check_open()
            return self._chain.read_id()

    def end_id(self) -> RecordId:
        """Where the data ends: every record has a smaller id. Nothing is pending when
        ``head_id()`` is not smaller."""
        with self._lock:
            self._check_open()
            tail = self._chain.segments[-1]
            return RecordId(tail.index, tail.size)

    def stats(self) -> SpoolStats:
        """Current counters; applies the age bound first. Usable after close()."""
        with self._lock:
            if not self._closed:
                self._chain.expire(self._now())
                self._finish()
            return self._chain.stats()

    @property
    def position_behind(self) -> bool:
        """The last write of the read position failed on a full disk (``DISK_ERRNOS``): the
        position file lags behind, which after a crash re-delivers records, never loses them.
        Every operation that moves the position writes it again."""
        return self._durability.position_behind

    def flush(self) -> None:
        """Put every append and the read position on stable storage now, whatever the policy."""
        with self._lock:
            self._check_open()
            self._finish()
            self._durability.sync(self._chain.position(), self._write_fd)

    def close(self) -> None:
        """Save the read position (durably unless the policy is NEVER) and release the files."""
        with self._lock:
            if self._closed:
                return
            try:
                self._finish()
                if self._durability.policy is not FsyncPolicy.NEVER:
                    self._durability.sync(self._chain.position(), self._write_fd)
                self._durability.compact(self._chain.position())
            finally:
                self._closed = True
                self._chain.close()
                self._release()

    def __enter__(self) -> Spool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- writing ------------------------------------------------------------------------------

    def _create_segment(self, index: int) -> Segment:
        path = self._directory / segment_name(index)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        if self._write_fd >= 0:
            os.close(self._write_fd)
        self._write_fd = fd
        segment = Segment(index, path, 0)
        self._chain.segments.append(segment)
        self._durability.directory_dirty = True
        return segment

    def _roll(self) -> Segment:
        """Close the write segment and start the next one."""
        tail = self._chain.segments[-1]
        self._durability.segment_filled(tail.index, self._write_fd)
        if tail.index >= MAX_INDEX:
            raise SpoolError(f"spool {self._directory}: segment index space exhausted")
        segment = self._create_segment(tail.index + 1)
        self._chain.normalize_head()
        return segment

    def _write(self, segment: Segment, data: bytes) -> None:
        """Write at the end of the data; a failed write leaves no partial record behind."""
        view = memoryview(data)
        offset = segment.size
        try:
            while view:
                written = os.pwrite(self._write_fd, view, offset)
                if written <= 0:
                    raise OSError(f"short write to {segment.path}")
                view = view[written:]
                offset += written
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(self._write_fd, segment.size)
            raise
        segment.size = offset
        self._durability.data_dirty = True

    def _finish(self) -> None:
        """End of an operation: save the read position and sync as the policy asks."""
        self._durability.finish(self._chain.position(), self._write_fd)

    # -- housekeeping -------------------------------------------------------------------------

    def _now(self) -> float:
        now = float(self._clock())
        if not math.isfinite(now):
            raise ValueError(f"clock returned a non-finite time: {now!r}")
        return now

    def _check_open(self) -> None:
        if self._closed:
            raise SpoolClosedError(f"spool {self._directory} is closed")

    def _release(self) -> None:
        durability: Durability | None = getattr(self, "_durability", None)
        if durability is not None:
            durability.close()
        for name in ("_write_fd", "_lock_fd", "_directory_fd"):
            fd = getattr(self, name)
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
                setattr(self, name, -1)


def _lock_directory(directory: Path) -> int:
    fd = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise SpoolLockedError(f"spool {directory} is already open elsewhere") from None
    except BaseException:
        os.close(fd)
        raise
    return fd


def _check_int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")


def _check_weight(weight: object) -> None:
    if isinstance(weight, bool) or not isinstance(weight, int):
        raise TypeError(f"weight must be an int, not {type(weight).__name__}")
    if not 0 <= weight <= MAX_WEIGHT:
        raise ValueError(f"weight must be within 0..{MAX_WEIGHT}, got {weight}")
