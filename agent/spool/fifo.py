"""The spool itself: a bounded, crash-safe FIFO of byte records in a directory.

See the package docstring for the guarantees; this module holds the mechanics.
"""

from __future__ import annotations

import bisect
import contextlib
import fcntl
import logging
import math
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from hostvitals.agent.spool.errors import SpoolClosedError, SpoolError, SpoolLockedError
from hostvitals.agent.spool.format import (
    HEADER_SIZE,
    MAX_INDEX,
    MAX_PAYLOAD,
    MAX_WEIGHT,
    encode_record,
)
from hostvitals.agent.spool.position import (
    POSITION_FILE,
    read_position,
    remove_temporary,
    write_position,
)
from hostvitals.agent.spool.segments import (
    CorruptSpan,
    SegmentReader,
    iter_entries,
    list_segments,
    read_entry,
    read_record,
    segment_name,
)
from hostvitals.agent.spool.values import FsyncPolicy, Record, RecordId, SpoolStats

_log = logging.getLogger(__name__)

LOCK_FILE = "lock"


@dataclass(slots=True)
class _Segment:
    index: int
    path: Path
    size: int
    records: int = 0  # intact records at or after the read position
    weight: int = 0  # their total weight
    newest: float = -math.inf  # latest append time of any intact record in the file
    corrupt: dict[int, int] = field(default_factory=dict)  # known damaged spans: start -> end


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
    ) -> None:
        _check_int("max_bytes", max_bytes, HEADER_SIZE)
        _check_int("segment_bytes", segment_bytes, 1)
        if not max_age_s > 0:
            raise ValueError(f"max_age_s must be positive, got {max_age_s!r}")
        if not (math.isfinite(fsync_interval_s) and fsync_interval_s >= 0):
            raise ValueError(f"fsync_interval_s must be >= 0, got {fsync_interval_s!r}")
        if not callable(clock):
            raise TypeError("clock must be callable")
        self._directory = Path(directory)
        self._max_bytes = max_bytes
        self._max_age_s = float(max_age_s)
        self._segment_bytes = segment_bytes
        self._policy = FsyncPolicy(fsync)
        self._fsync_interval_s = float(fsync_interval_s)
        self._clock = clock

        self._lock = threading.Lock()
        self._segments: list[_Segment] = []
        self._read_offset = 0
        self._lookahead: deque[Record] = deque()
        self._reader: SegmentReader | None = None
        self._reader_index = -1
        self._write_fd = -1
        self._lock_fd = -1
        self._directory_fd = -1
        self._closed = False

        self._dropped_records = 0
        self._dropped_weight = 0
        self._expired_records = 0
        self._expired_weight = 0
        self._expiring = False
        self._corrupt_records = 0
        self._corrupt_bytes = 0

        self._data_dirty = False
        self._directory_dirty = False
        self._unsynced: set[int] = set()
        self._saved_position: tuple[int, int] | None = None
        self._durable_position: tuple[int, int] | None = None
        self._last_sync = time.monotonic()

        self._directory.mkdir(parents=True, exist_ok=True)
        try:
            self._directory_fd = os.open(self._directory, os.O_RDONLY | os.O_DIRECTORY)
            self._lock_fd = _lock_directory(self._directory)
            self._recover()
        except BaseException:
            self._release()
            raise

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
            self._expire(now)
            self._make_room(size)
            segment = self._segments[-1]
            if segment.size > 0 and segment.size + size > self._segment_bytes:
                segment = self._roll()
            record_id = RecordId(segment.index, segment.size)
            self._write(segment, encode_record(data, weight, now))
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
            self._expire(self._now())
            out: list[Record] = []
            total = 0

            def take(record: Record) -> bool:
                nonlocal total
                if len(out) >= max_records:
                    return False
                if max_bytes is not None and out and total + len(record.payload) > max_bytes:
                    return False
                out.append(record)
                total += len(record.payload)
                return True

            for record in self._lookahead:
                if not take(record):
                    break
            else:
                while len(out) < max_records:
                    segment_pos, offset = self._cursor()
                    found = self._read_next(segment_pos, offset)
                    if found is None:
                        break
                    self._lookahead.append(found)
                    if not take(found):
                        break
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
            tail = self._segments[-1]
            if record_id >= RecordId(tail.index, tail.size):
                raise ValueError(f"unknown record id {record_id}: past the end of the spool")
            while True:
                if not self._lookahead and self._read_id() > record_id:
                    break
                record = self._head_record()
                if record is None or record.id > record_id:
                    break
                self._consume_head(record, dropped=False)
            self._finish()

    def head_id(self) -> RecordId:
        """Where the pending records begin: every record with a smaller id is gone (consumed
        or dropped).
        """
        with self._lock:
            self._check_open()
            return self._read_id()

    def stats(self) -> SpoolStats:
        """Current counters; applies the age bound first. Usable after close()."""
        with self._lock:
            if not self._closed:
                self._expire(self._now())
                self._finish()
            return SpoolStats(
                pending_records=sum(s.records for s in self._segments),
                pending_bytes=sum(s.size for s in self._segments) - self._read_offset,
                dropped_records=self._dropped_records,
                dropped_weight=self._dropped_weight,
                expired_records=self._expired_records,
                expired_weight=self._expired_weight,
                corrupt_records=self._corrupt_records,
                corrupt_bytes=self._corrupt_bytes,
            )

    def flush(self) -> None:
        """Put every append and the read position on stable storage now, whatever the policy."""
        with self._lock:
            self._check_open()
            self._finish()
            self._sync()

    def close(self) -> None:
        """Save the read position (durably unless the policy is NEVER) and release the files."""
        with self._lock:
            if self._closed:
                return
            try:
                self._finish()
                if self._policy is not FsyncPolicy.NEVER:
                    self._sync()
            finally:
                self._closed = True
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

    # -- opening ------------------------------------------------------------------------------

    def _recover(self) -> None:
        remove_temporary(self._directory)
        found = list_segments(self._directory)
        saved = read_position(self._directory)
        if saved is None and (self._directory / POSITION_FILE).exists():
            _log.warning(
                "spool %s: read position damaged, starting from the oldest record", self._directory
            )
        highest = max([index for index, _ in found] + [saved[0] if saved else -1])
        start_index, start_offset = saved if saved is not None else (-1, 0)

        kept: list[tuple[int, Path]] = []
        for index, path in found:
            if index < start_index:
                path.unlink()  # fully acknowledged, its deletion had not happened yet
                self._directory_dirty = True
            else:
                kept.append((index, path))
        if not kept or kept[0][0] != start_index:
            start_offset = 0

        for pos, (index, path) in enumerate(kept):
            segment = _Segment(index, path, path.stat().st_size)
            last = pos == len(kept) - 1
            offset = self._scan(segment, start_offset if pos == 0 else 0, truncate_tail=last)
            if pos == 0:
                self._read_offset = offset
            self._segments.append(segment)

        if self._segments:
            tail = self._segments[-1]
            self._write_fd = os.open(tail.path, os.O_WRONLY | os.O_CLOEXEC)
        else:
            if highest >= MAX_INDEX:
                raise SpoolError(f"spool {self._directory}: segment index space exhausted")
            self._create_segment(highest + 1)
            self._read_offset = 0
        if self._corrupt_records:
            _log.warning(
                "spool %s: skipped %d damaged span(s), %d bytes",
                self._directory,
                self._corrupt_records,
                self._corrupt_bytes,
            )
        self._normalize_head()
        self._finish()

    def _scan(self, segment: _Segment, start: int, *, truncate_tail: bool) -> int:
        """Count what ``segment`` holds at or after ``start`` and learn its damaged spans.

        Returns ``start`` moved back to the boundary of the entry containing it (or to the end
        of the data), so a read position that is not on a boundary re-delivers rather than
        loses. With ``truncate_tail`` a damaged tail is cut off so appends continue cleanly.
        """
        records = weight = 0
        newest = -math.inf
        spans: dict[int, int] = {}
        boundary: int | None = None
        reader = SegmentReader(segment.path)
        try:
            for entry in iter_entries(reader, 0, segment.size):
                counted = entry.end > start
                if counted and boundary is None:
                    boundary = entry.offset
                if isinstance(entry, CorruptSpan):
                    spans[entry.offset] = entry.end
                    if counted and entry.offset not in segment.corrupt:
                        self._count_corrupt(entry.end - entry.offset)
                else:
                    newest = max(newest, entry.header.appended_at)
                    if counted:
                        records += 1
                        weight += entry.header.weight
        finally:
            reader.close()
        tail_start = next((s for s, e in spans.items() if e == segment.size), None)
        if truncate_tail and tail_start is not None:
            os.truncate(segment.path, tail_start)
            del spans[tail_start]
            segment.size = tail_start
            self._data_dirty = True  # the truncation itself wants an fsync
        segment.records, segment.weight, segment.newest = records, weight, newest
        segment.corrupt = spans
        return segment.size if boundary is None else min(boundary, segment.size)

    # -- reading ------------------------------------------------------------------------------

    def _read_id(self) -> RecordId:
        return RecordId(self._segments[0].index, self._read_offset)

    def _cursor(self) -> tuple[int, int]:
        """Where reading continues: just past the lookahead, or at the read position."""
        if not self._lookahead:
            return 0, self._read_offset
        last = self._lookahead[-1]
        pos = bisect.bisect_left(self._segments, last.id.segment, key=lambda s: s.index)
        return pos, _end(last)

    def _read_next(self, pos: int, offset: int) -> Record | None:
        """The first intact record at or after (segment at ``pos``, ``offset``)."""
        while True:
            segment = self._segments[pos]
            if offset >= segment.size:
                if pos + 1 >= len(self._segments):
                    return None
                pos, offset = pos + 1, 0
                continue
            span_end = segment.corrupt.get(offset)
            if span_end is not None:
                offset = span_end
                continue
            reader = self._reader_for(segment)
            entry = read_record(reader, offset, segment.size, with_payload=True)
            if entry is not None and entry.payload is not None:
                header = entry.header
                return Record(
                    RecordId(segment.index, offset),
                    entry.payload,
                    header.weight,
                    header.appended_at,
                )
            offset = self._damage_found(segment, reader, offset)

    def _damage_found(self, segment: _Segment, reader: SegmentReader, offset: int) -> int:
        """Bytes changed under a running spool: rescan the segment so counts stay exact."""
        span = read_entry(reader, offset, segment.size, with_payload=False)
        start = self._read_offset if segment is self._segments[0] else 0
        self._scan(segment, start, truncate_tail=False)
        if offset not in segment.corrupt:
            segment.corrupt[offset] = span.end
            self._count_corrupt(span.end - offset)
        _log.warning(
            "spool %s: damaged record in %s at offset %d skipped",
            self._directory,
            segment.path.name,
            offset,
        )
        return segment.corrupt[offset]

    def _reader_for(self, segment: _Segment) -> SegmentReader:
        if self._reader is None or self._reader_index != segment.index:
            self._close_reader()
            self._reader = SegmentReader(segment.path)
            self._reader_index = segment.index
        return self._reader

    def _close_reader(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
            self._reader_index = -1

    def _head_record(self) -> Record | None:
        """The oldest pending record, kept as the first lookahead entry."""
        if self._lookahead:
            return self._lookahead[0]
        record = self._read_next(0, self._read_offset)
        if record is not None:
            self._lookahead.append(record)
        return record

    # -- consuming and dropping ---------------------------------------------------------------

    def _consume_head(self, record: Record, *, dropped: bool) -> None:
        """Move the read position past ``record``, the current head record."""
        self._lookahead.popleft()
        while self._segments[0].index != record.id.segment:
            self._count_dropped(*self._discard_head_segment())
        head = self._segments[0]
        head.records -= 1
        head.weight -= record.weight
        self._read_offset = _end(record)
        if dropped:
            self._count_dropped(1, record.weight)
        self._normalize_head()

    def _normalize_head(self) -> None:
        """Delete leading segments with nothing left to deliver (never the write segment)."""
        while len(self._segments) > 1:
            head = self._segments[0]
            if self._read_offset < head.size and head.records > 0:
                return
            self._count_dropped(*self._discard_head_segment())

    def _discard_head_segment(self) -> tuple[int, int]:
        """Delete the oldest segment; returns the (records, weight) still pending in it."""
        head = self._segments.pop(0)
        while self._lookahead and self._lookahead[0].id.segment == head.index:
            self._lookahead.popleft()
        if self._reader_index == head.index:
            self._close_reader()
        self._unsynced.discard(head.index)
        with contextlib.suppress(FileNotFoundError):
            head.path.unlink()
        self._directory_dirty = True
        self._read_offset = 0
        return head.records, head.weight

    def _make_room(self, size: int) -> None:
        """Drop the oldest records until ``size`` more bytes fit within ``max_bytes``."""
        while True:
            pending = sum(s.size for s in self._segments) - self._read_offset
            excess = pending + size - self._max_bytes
            if excess <= 0:
                return
            head = self._segments[0]
            if len(self._segments) > 1 and head.size - self._read_offset <= excess:
                self._count_dropped(*self._discard_head_segment())
                self._normalize_head()
                continue
            record = self._head_record()
            if record is not None:
                self._consume_head(record, dropped=True)
            elif len(self._segments) > 1:
                self._count_dropped(*self._discard_head_segment())
                self._normalize_head()
            else:
                self._read_offset = head.size  # only damaged bytes are left: skip them

    def _expire(self, now: float) -> None:
        """Drop records older than ``max_age_s``, oldest first."""
        self._expiring = True
        try:
            self._expire_old(now)
        finally:
            self._expiring = False

    def _expire_old(self, now: float) -> None:
        while True:
            head = self._segments[0]
            if len(self._segments) > 1 and now - head.newest > self._max_age_s:
                self._count_dropped(*self._discard_head_segment())
                self._normalize_head()
                continue
            record = self._head_record()
            if record is None or not now - record.appended_at > self._max_age_s:
                return
            self._consume_head(record, dropped=True)

    def _count_dropped(self, records: int, weight: int) -> None:
        self._dropped_records += records
        self._dropped_weight += weight
        if self._expiring:
            self._expired_records += records
            self._expired_weight += weight

    def _count_corrupt(self, size: int) -> None:
        self._corrupt_records += 1
        self._corrupt_bytes += size

    # -- writing and syncing ------------------------------------------------------------------

    def _create_segment(self, index: int) -> _Segment:
        path = self._directory / segment_name(index)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        if self._write_fd >= 0:
            os.close(self._write_fd)
        self._write_fd = fd
        segment = _Segment(index, path, 0)
        self._segments.append(segment)
        self._directory_dirty = True
        return segment

    def _roll(self) -> _Segment:
        """Close the write segment and start the next one."""
        tail = self._segments[-1]
        if self._data_dirty:
            if self._policy is FsyncPolicy.NEVER:
                self._unsynced.add(tail.index)
            else:
                os.fsync(self._write_fd)
            self._data_dirty = False
        if tail.index >= MAX_INDEX:
            raise SpoolError(f"spool {self._directory}: segment index space exhausted")
        segment = self._create_segment(tail.index + 1)
        self._normalize_head()
        return segment

    def _write(self, segment: _Segment, data: bytes) -> None:
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
        self._data_dirty = True

    def _position(self) -> tuple[int, int]:
        return self._segments[0].index, self._read_offset

    def _finish(self) -> None:
        """End of an operation: save the read position and sync as the policy asks."""
        position = self._position()
        if self._policy is FsyncPolicy.ALWAYS:
            if self._dirty():
                self._sync()
            return
        if position != self._saved_position:
            write_position(self._directory, *position, durable=False)
            self._saved_position = position
        if (
            self._policy is FsyncPolicy.INTERVAL
            and self._dirty()
            and time.monotonic() - self._last_sync >= self._fsync_interval_s
        ):
            self._sync()

    def _dirty(self) -> bool:
        return (
            self._data_dirty
            or self._directory_dirty
            or bool(self._unsynced)
            or self._position() != self._durable_position
        )

    def _sync(self) -> None:
        """fsync appended data, then the read position, then the directory."""
        if self._data_dirty:
            os.fsync(self._write_fd)
            self._data_dirty = False
        for index in sorted(self._unsynced):
            fd = os.open(self._directory / segment_name(index), os.O_RDONLY | os.O_CLOEXEC)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        self._unsynced.clear()
        position = self._position()
        if position != self._durable_position:
            write_position(self._directory, *position, durable=True)
            self._saved_position = self._durable_position = position
        elif self._directory_dirty:
            os.fsync(self._directory_fd)
        self._directory_dirty = False
        self._last_sync = time.monotonic()

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
        self._close_reader()
        for name in ("_write_fd", "_lock_fd", "_directory_fd"):
            fd = getattr(self, name)
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
                setattr(self, name, -1)


def _end(record: Record) -> int:
    """Offset just past ``record`` in its segment."""
    return record.id.offset + HEADER_SIZE + len(record.payload)


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
