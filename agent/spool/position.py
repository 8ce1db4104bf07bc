"""The read-position file: an append-only log of how far the consumer has acknowledged.

Every move of the read position appends one position record (``format``) to the file with a
single ``pwrite``: once that returns, the position survives a crash of the process. Reading
takes the greatest intact record (positions only grow while a spool is open), so a torn, lost
or damaged append costs re-delivery, never loss. The file is replaced atomically
(``hostvitals.shared.atomicfile``) by one record holding the current position when the spool
opens, when it closes and whenever the log reaches ``LOG_BYTES``; so it stays small.

A position file from before the log (one record, replaced at every move) is a log of one
record: it is read the same way. The other way round, a spool closed cleanly leaves one
record, which the older format reads; after a crash an older version would find a longer file
damaged and deliver again from the oldest segment (the collector drops the repeats).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from hostvitals.agent.spool.format import POSITION_SIZE, decode_position, encode_position
from hostvitals.shared.atomicfile import remove_leftovers, replace_file

POSITION_FILE = "position"
LOG_BYTES = 64 * 2**10
"""The log is compacted to one record when the next one would take it past this size."""
_OLD_TEMP_FILE = "position.tmp"
"""The temporary file's name before the position was written with ``replace_file``."""


def read_position(directory: Path) -> tuple[int, int] | None:
    """(segment index, offset) from the position file; None when it is missing or holds no
    intact record."""
    try:
        data = (directory / POSITION_FILE).read_bytes()
    except FileNotFoundError:
        return None
    best: tuple[int, int] | None = None
    for start in range(0, len(data) - POSITION_SIZE + 1, POSITION_SIZE):
        found = decode_position(data[start : start + POSITION_SIZE])
        if found is not None and (best is None or found > best):
            best = found
    return best


def remove_temporary(directory: Path) -> None:
    """Delete temporary files left behind by an interrupted replacement."""
    remove_leftovers(directory / POSITION_FILE)
    with contextlib.suppress(FileNotFoundError):
        (directory / _OLD_TEMP_FILE).unlink()


class PositionLog:
    """Writes the read position of one open spool (the caller holds the spool's lock)."""

    def __init__(self, directory: Path, *, limit: int | None = None) -> None:
        self._path = directory / POSITION_FILE
        self._limit = max(LOG_BYTES if limit is None else limit, POSITION_SIZE)
        self._fd = -1
        self._size = 0
        self.unsynced = False
        """Written since the last ``sync``."""
        self.renamed = False
        """Replaced since the last ``sync`` without the directory being fsynced."""

    def write(self, segment: int, offset: int) -> None:
        """Record the position; it survives a crash of the process once this returns.

        The first write of an open spool, and one that would take the log past its limit,
        replace the file by a single record instead of appending.
        """
        if self._fd < 0 or self._size + POSITION_SIZE > self._limit:
            self.replace(segment, offset, durable=False)
            return
        data = encode_position(segment, offset)
        try:
            if os.pwrite(self._fd, data, self._size) != len(data):
                raise OSError(f"short write to {self._path}")
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self._size)
            raise
        self._size += len(data)
        self.unsynced = True

    def replace(self, segment: int, offset: int, *, durable: bool) -> None:
        """Replace the file by one record; with ``durable`` it survives power loss on return."""
        replace_file(self._path, encode_position(segment, offset), mode=0o644, durable=durable)
        self.close()
        self._fd = os.open(self._path, os.O_WRONLY | os.O_CLOEXEC)
        self._size = POSITION_SIZE
        self.unsynced = not durable
        self.renamed = not durable

    def compact(self, segment: int, offset: int, *, durable: bool) -> None:
        """Leave one record (the position given, the newest): what a spool does on close, so
        that a spool closed cleanly has the one-record file older versions read too."""
        if self._fd >= 0 and self._size > POSITION_SIZE:
            self.replace(segment, offset, durable=durable)

    def sync(self) -> bool:
        """fsync what was written; True if the directory must be fsynced too (the file was
        replaced since the last sync), which the caller does."""
        if self.unsynced and self._fd >= 0:
            os.fdatasync(self._fd)
        self.unsynced = False
        renamed, self.renamed = self.renamed, False
        return renamed

    @property
    def opened(self) -> bool:
        """Whether this spool wrote the file yet (its first write replaces it)."""
        return self._fd >= 0

    def close(self) -> None:
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = -1
