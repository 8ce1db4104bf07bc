"""Segment files: their names, what the spool knows about each, positional reads, and walking
records with damage recovery.

A segment is an append-only file of records (see ``format``). Reading one back yields, in file
order, either intact records or spans of damaged bytes. A damaged span starts where a record
fails its checks and ends at the next offset holding an intact record (found by scanning for
the magic and checking header and payload), or at the end of the data when none follows.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from hostvitals.agent.spool.format import HEADER_SIZE, MAGIC, Header, decode_header, payload_matches

SEGMENT_SUFFIX = ".seg"
_SEGMENT_NAME = re.compile(r"(\d{20})\.seg")
_WINDOW = 1 << 20


def segment_name(index: int) -> str:
    """File name of segment ``index``; names sort in index order."""
    return f"{index:020d}{SEGMENT_SUFFIX}"


def list_segments(directory: Path) -> list[tuple[int, Path]]:
    """Segment files in ``directory`` as (index, path), oldest first; other files are ignored."""
    found: list[tuple[int, Path]] = []
    for path in directory.iterdir():
        match = _SEGMENT_NAME.fullmatch(path.name)
        if match is not None and path.is_file():
            found.append((int(match.group(1)), path))
    found.sort()
    return found


@dataclass(slots=True)
class Segment:
    """What an open spool knows about one segment file."""

    index: int
    path: Path
    size: int
    records: int = 0  # intact records at or after the read position
    weight: int = 0  # their total weight
    newest: float = -math.inf  # latest append time of any intact record in the file
    corrupt: dict[int, int] = field(default_factory=dict)  # known damaged spans: start -> end


@dataclass(frozen=True, slots=True)
class RecordEntry:
    """An intact record at ``offset``; ``payload`` is None when read without payloads."""

    offset: int
    header: Header
    payload: bytes | None

    @property
    def end(self) -> int:
        return self.offset + HEADER_SIZE + self.header.length


@dataclass(frozen=True, slots=True)
class CorruptSpan:
    """Damaged bytes ``[offset, end)``: a torn or altered record, or garbage."""

    offset: int
    end: int


Entry = RecordEntry | CorruptSpan


class SegmentReader:
    """Positional reads of one segment file through a read-ahead window.

    Bytes below a segment's data size never change once written, so the window never needs
    invalidating; callers pass that size as ``limit`` and nothing past it is cached.
    """

    def __init__(self, path: Path, window: int = _WINDOW) -> None:
        self.path = path
        self._fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        self._window = window
        self._base = 0
        self._buf = b""

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def read(self, offset: int, size: int, limit: int) -> memoryview:
        """Up to ``size`` bytes at ``offset``, never past ``limit``; shorter only at the end."""
        size = max(0, min(size, limit - offset))
        start = offset - self._base
        if start >= 0 and start + size <= len(self._buf):
            return memoryview(self._buf)[start : start + size]
        if size >= self._window:
            return memoryview(os.pread(self._fd, size, offset))
        self._buf = os.pread(self._fd, min(self._window, limit - offset), offset)
        self._base = offset
        return memoryview(self._buf)[:size]

    def find(self, needle: bytes, start: int, limit: int) -> int:
        """Offset of the first ``needle`` in ``[start, limit)``, or -1."""
        pos = start
        while pos + len(needle) <= limit:
            lo = pos - self._base
            if lo < 0 or lo + len(needle) > len(self._buf):
                self._buf = os.pread(self._fd, min(self._window, limit - pos), pos)
                self._base = pos
                lo = 0
            hi = min(len(self._buf), limit - self._base)
            if hi - lo < len(needle):
                return -1
            found = self._buf.find(needle, lo, hi)
            if found >= 0:
                return self._base + found
            pos = self._base + hi - len(needle) + 1
        return -1


def read_record(
    reader: SegmentReader, offset: int, limit: int, *, with_payload: bool
) -> RecordEntry | None:
    """The intact record at ``offset``, or None when anything about it fails its checks."""
    header = decode_header(reader.read(offset, HEADER_SIZE, limit))
    if header is None or offset + HEADER_SIZE + header.length > limit:
        return None
    payload = reader.read(offset + HEADER_SIZE, header.length, limit)
    if not payload_matches(header, payload):
        return None
    return RecordEntry(offset, header, bytes(payload) if with_payload else None)


def next_intact(reader: SegmentReader, start: int, limit: int) -> int:
    """Offset of the first intact record at or after ``start``, or ``limit`` if there is none."""
    pos = start
    while True:
        pos = reader.find(MAGIC, pos, limit)
        if pos < 0:
            return limit
        if read_record(reader, pos, limit, with_payload=False) is not None:
            return pos
        pos += 1


def read_entry(reader: SegmentReader, offset: int, limit: int, *, with_payload: bool) -> Entry:
    """The record at ``offset`` or, if it is damaged, the damaged span starting there."""
    record = read_record(reader, offset, limit, with_payload=with_payload)
    if record is not None:
        return record
    return CorruptSpan(offset, next_intact(reader, offset + 1, limit))


def iter_entries(reader: SegmentReader, start: int, limit: int) -> Iterator[Entry]:
    """Every entry from ``start`` (an entry boundary) to ``limit``, without payloads."""
    offset = start
    while offset < limit:
        entry = read_entry(reader, offset, limit, with_payload=False)
        yield entry
        offset = entry.end
