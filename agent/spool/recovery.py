"""Recovery: what a spool directory holds when it is opened, and damage found later.

Every segment is scanned once on open (``scan``). A record that fails its checks (torn by a
crash, or a flipped byte anywhere in it) starts a damaged span that ends at the next intact
record; the span is skipped and counted, so one bad record never blocks the ones after it. A
damaged tail of the newest segment is truncated so appends continue on a clean boundary.
``recover`` reads the position file: missing or damaged means "start from the oldest
segment", a position past the end of the data "everything in that segment was consumed", and
segments older than the position are deleted. See the package docstring for the guarantees.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path

from hostvitals.agent.spool.position import POSITION_FILE, read_position, remove_temporary
from hostvitals.agent.spool.segments import (
    CorruptSpan,
    Segment,
    SegmentReader,
    iter_entries,
    list_segments,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Scanned:
    """What a scan of one segment found, besides what it updated in the segment itself."""

    boundary: int
    """The start moved back to the boundary of the entry holding it (or to the end of the
    data), so a read position that is not on a boundary re-delivers rather than loses."""
    new_corrupt: tuple[int, ...]
    """Sizes of damaged spans at or after the start that the segment did not know of."""
    truncated: bool
    """A damaged tail was cut off (the truncation wants an fsync)."""


def scan(segment: Segment, start: int, *, truncate_tail: bool) -> Scanned:
    """Count what ``segment`` holds at or after ``start`` and learn its damaged spans.

    Updates the segment's size, counts, newest append time and known damaged spans. With
    ``truncate_tail`` a damaged tail is cut off the file.
    """
    records = weight = 0
    newest = -math.inf
    spans: dict[int, int] = {}
    new_corrupt: list[int] = []
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
                    new_corrupt.append(entry.end - entry.offset)
            else:
                newest = max(newest, entry.header.appended_at)
                if counted:
                    records += 1
                    weight += entry.header.weight
    finally:
        reader.close()
    tail_start = next((s for s, e in spans.items() if e == segment.size), None)
    truncated = False
    if truncate_tail and tail_start is not None:
        os.truncate(segment.path, tail_start)
        del spans[tail_start]
        segment.size = tail_start
        truncated = True
    segment.records, segment.weight, segment.newest = records, weight, newest
    segment.corrupt = spans
    end = segment.size if boundary is None else min(boundary, segment.size)
    return Scanned(end, tuple(new_corrupt), truncated)


@dataclass(slots=True)
class Recovered:
    """A spool directory as found on open."""

    segments: list[Segment]
    """The segments still holding pending records, oldest first; may be empty."""
    read_offset: int
    """Where reading starts in the first segment."""
    next_index: int
    """The index for a new segment when none is left."""
    corrupt_records: int = 0
    corrupt_bytes: int = 0
    data_dirty: bool = False
    """A torn tail was truncated."""
    directory_dirty: bool = False
    """Fully acknowledged segments were deleted (their deletion had not happened yet)."""


def recover(directory: Path) -> Recovered:
    """Scan ``directory`` (locked by the caller): segments, read position, damage."""
    remove_temporary(directory)
    found = list_segments(directory)
    saved = read_position(directory)
    if saved is None and (directory / POSITION_FILE).exists():
        log.warning("spool %s: read position damaged, starting from the oldest record", directory)
    highest = max([index for index, _ in found] + [saved[0] if saved else -1])
    start_index, start_offset = saved if saved is not None else (-1, 0)
    result = Recovered([], 0, highest + 1)

    kept: list[tuple[int, Path]] = []
    for index, path in found:
        if index < start_index:
            path.unlink()
            result.directory_dirty = True
        else:
            kept.append((index, path))
    if not kept or kept[0][0] != start_index:
        start_offset = 0

    for pos, (index, path) in enumerate(kept):
        segment = Segment(index, path, path.stat().st_size)
        last = pos == len(kept) - 1
        scanned = scan(segment, start_offset if pos == 0 else 0, truncate_tail=last)
        result.corrupt_records += len(scanned.new_corrupt)
        result.corrupt_bytes += sum(scanned.new_corrupt)
        result.data_dirty = result.data_dirty or scanned.truncated
        if pos == 0:
            result.read_offset = scanned.boundary
        result.segments.append(segment)
    if result.corrupt_records:
        log.warning(
            "spool %s: skipped %d damaged span(s), %d bytes",
            directory,
            result.corrupt_records,
            result.corrupt_bytes,
        )
    return result
