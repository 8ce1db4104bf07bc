"""The chain of segments from the read position to the tail, as a queue of records.

It reads records in order (skipping known damaged spans, and learning of damage that appears
under a running spool), moves the read position when records are acknowledged, and drops the
oldest records to keep the size and age bounds, counting every drop and reporting it to an
observer as it happens. Appending and syncing are
the spool's (``hostvitals.agent.spool.fifo``); what is on disk at open is ``recovery``'s.
"""

from __future__ import annotations

import bisect
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from pathlib import Path

from hostvitals.agent.spool.durability import Durability, Position
from hostvitals.agent.spool.format import HEADER_SIZE
from hostvitals.agent.spool.recovery import Recovered, scan
from hostvitals.agent.spool.segments import Segment, SegmentReader, read_entry, read_record
from hostvitals.agent.spool.values import Dropped, Record, RecordId, SpoolStats

log = logging.getLogger(__name__)


class SegmentChain:
    """The pending records of a spool, oldest first; the caller holds the spool's lock."""

    def __init__(
        self,
        directory: Path,
        recovered: Recovered,
        durability: Durability,
        *,
        max_bytes: int,
        max_age_s: float,
        on_drop: Callable[[Dropped], None] | None = None,
    ) -> None:
        self._directory = directory
        self._on_drop = on_drop
        self._durability = durability
        self._max_bytes = max_bytes
        self._max_age_s = max_age_s
        self.segments: list[Segment] = recovered.segments
        """Oldest first; the last one is the write segment."""
        self._read_offset = recovered.read_offset
        self._lookahead: deque[Record] = deque()
        self._reader: SegmentReader | None = None
        self._reader_index = -1
        self._dropped_records = 0
        self._dropped_weight = 0
        self._expired_records = 0
        self._expired_weight = 0
        self._expiring = False
        self._corrupt_records = recovered.corrupt_records
        self._corrupt_bytes = recovered.corrupt_bytes
        self._written: Record | None = None
        """The newest appended record, kept so that reading it back (the sender acknowledging
        the frame it was just handed in memory) costs no read and no checksum."""

    # -- the queue --------------------------------------------------------------------------

    def position(self) -> Position:
        """The read position: the first segment and the offset of its oldest pending record."""
        return self.segments[0].index, self._read_offset

    def read_id(self) -> RecordId:
        return RecordId(*self.position())

    def appended(self, record: Record) -> None:
        """``record`` was just written at the tail: a read of it is served from memory."""
        self._written = record

    def peek(self, max_records: int, max_bytes: int | None) -> list[Record]:
        """The oldest pending records (see ``Spool.peek``)."""
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
        return out

    def ack(self, record_id: RecordId) -> None:
        """Consume every pending record up to and including ``record_id``."""
        while True:
            if not self._lookahead and self.read_id() > record_id:
                break
            record = self._head_record()
            if record is None or record.id > record_id:
                break
            self._consume_head(record, dropped=False)

    def stats(self) -> SpoolStats:
        return SpoolStats(
            pending_records=sum(s.records for s in self.segments),
            pending_bytes=self._pending_bytes(),
            dropped_records=self._dropped_records,
            dropped_weight=self._dropped_weight,
            expired_records=self._expired_records,
            expired_weight=self._expired_weight,
            corrupt_records=self._corrupt_records,
            corrupt_bytes=self._corrupt_bytes,
        )

    def close(self) -> None:
        self._close_reader()

    # -- reading ----------------------------------------------------------------------------

    def _pending_bytes(self) -> int:
        return sum(s.size for s in self.segments) - self._read_offset

    def _cursor(self) -> tuple[int, int]:
        """Where reading continues: just past the lookahead, or at the read position."""
        if not self._lookahead:
            return 0, self._read_offset
        last = self._lookahead[-1]
        pos = bisect.bisect_left(self.segments, last.id.segment, key=lambda s: s.index)
        return pos, _end(last)

    def _read_next(self, pos: int, offset: int) -> Record | None:
        """The first intact record at or after (segment at ``pos``, ``offset``)."""
        while True:
            segment = self.segments[pos]
            if offset >= segment.size:
                if pos + 1 >= len(self.segments):
                    return None
                pos, offset = pos + 1, 0
                continue
            span_end = segment.corrupt.get(offset)
            if span_end is not None:
                offset = span_end
                continue
            written = self._written
            if written is not None and written.id == RecordId(segment.index, offset):
                return written
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

    def _damage_found(self, segment: Segment, reader: SegmentReader, offset: int) -> int:
        """Bytes changed under a running spool: rescan the segment so counts stay exact."""
        span = read_entry(reader, offset, segment.size, with_payload=False)
        start = self._read_offset if segment is self.segments[0] else 0
        for size in scan(segment, start, truncate_tail=False).new_corrupt:
            self._count_corrupt(size)
        if offset not in segment.corrupt:
            segment.corrupt[offset] = span.end
            self._count_corrupt(span.end - offset)
        log.warning(
            "spool %s: damaged record in %s at offset %d skipped",
            self._directory,
            segment.path.name,
            offset,
        )
        return segment.corrupt[offset]

    def _reader_for(self, segment: Segment) -> SegmentReader:
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

    # -- consuming and dropping -------------------------------------------------------------

    def _consume_head(self, record: Record, *, dropped: bool) -> None:
        """Move the read position past ``record``, the current head record."""
        self._lookahead.popleft()
        while self.segments[0].index != record.id.segment:
            self._drop_head_segment()
        head = self.segments[0]
        head.records -= 1
        head.weight -= record.weight
        self._read_offset = _end(record)
        if dropped:
            self._count_dropped(record.id, False, 1, record.weight)
        self.normalize_head()

    def normalize_head(self) -> None:
        """Delete leading segments with nothing left to deliver (never the write segment)."""
        while len(self.segments) > 1:
            head = self.segments[0]
            if self._read_offset < head.size and head.records > 0:
                return
            self._drop_head_segment()

    def _drop_head_segment(self) -> None:
        """Delete the oldest segment, counting the records still pending in it as dropped."""
        first = self.read_id()
        head = self.segments.pop(0)
        while self._lookahead and self._lookahead[0].id.segment == head.index:
            self._lookahead.popleft()
        if self._reader_index == head.index:
            self._close_reader()
        with contextlib.suppress(FileNotFoundError):
            head.path.unlink()
        self._durability.segment_deleted(head.index)
        self._read_offset = 0
        self._count_dropped(first, True, head.records, head.weight)

    def make_room(self, size: int) -> None:
        """Drop the oldest records until ``size`` more bytes fit within ``max_bytes``."""
        while True:
            excess = self._pending_bytes() + size - self._max_bytes
            if excess <= 0:
                return
            head = self.segments[0]
            if len(self.segments) > 1 and head.size - self._read_offset <= excess:
                self._drop_head_segment()
                self.normalize_head()
                continue
            record = self._head_record()
            if record is not None:
                self._consume_head(record, dropped=True)
            elif len(self.segments) > 1:
                self._drop_head_segment()
                self.normalize_head()
            else:
                self._read_offset = head.size  # only damaged bytes are left: skip them

    def expire(self, now: float) -> None:
        """Drop records older than ``max_age_s``, oldest first."""
        self._expiring = True
        try:
            self._expire_old(now)
        finally:
            self._expiring = False

    def _expire_old(self, now: float) -> None:
        while True:
            head = self.segments[0]
            if len(self.segments) > 1 and now - head.newest > self._max_age_s:
                self._drop_head_segment()
                self.normalize_head()
                continue
            record = self._head_record()
            if record is None or not now - record.appended_at > self._max_age_s:
                return
            self._consume_head(record, dropped=True)

    def _count_dropped(
        self, first: RecordId, rest_of_segment: bool, records: int, weight: int
    ) -> None:
        if records == 0 and weight == 0:
            return
        self._dropped_records += records
        self._dropped_weight += weight
        if self._expiring:
            self._expired_records += records
            self._expired_weight += weight
        if self._on_drop is not None:
            self._on_drop(Dropped(first, rest_of_segment, records, weight, self._expiring))

    def _count_corrupt(self, size: int) -> None:
        self._corrupt_records += 1
        self._corrupt_bytes += size


def _end(record: Record) -> int:
    """Offset just past ``record`` in its segment."""
    return record.id.offset + HEADER_SIZE + len(record.payload)
