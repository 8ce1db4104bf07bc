"""Durability: the fsync policy at work.

What the spool wrote but has not synced yet (appended data, filled segments under ``never``,
the directory after a segment was created or deleted, the read position), and when to sync
it: at the end of every operation under ``always``, at the end of the first operation at
least ``interval_s`` after the previous sync under ``interval``, and only on request under
``never``. Data is always synced before the position, so a durable position never points past
durable data. The position is written to its log (``position``) at the end of every
operation that moved it, whatever the policy. See the package docstring for what each policy
keeps after a power loss.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from hostvitals.agent.spool.errors import is_disk_error
from hostvitals.agent.spool.position import PositionLog
from hostvitals.agent.spool.segments import segment_name
from hostvitals.agent.spool.values import FsyncPolicy

Position = tuple[int, int]
"""The read position: segment index, offset of the oldest unacknowledged record."""


class Durability:
    """Tracks what needs syncing and syncs it as the policy says."""

    def __init__(
        self, directory: Path, directory_fd: int, policy: FsyncPolicy, interval_s: float
    ) -> None:
        self._directory = directory
        self._directory_fd = directory_fd
        self.policy = policy
        self._interval_s = interval_s
        self.data_dirty = False
        """The write segment has appends (or a truncation) not synced yet."""
        self.directory_dirty = False
        """A segment was created or deleted since the last sync."""
        self._unsynced: set[int] = set()
        self._log = PositionLog(directory)
        self._saved: Position | None = None
        self._durable: Position | None = None
        self._last_sync = time.monotonic()
        self.position_behind = False
        """The last write of the read position failed on a full disk: the file holds an
        older position (re-delivery after a crash, never loss); the next operation retries."""

    def segment_filled(self, index: int, write_fd: int) -> None:
        """The write segment ``index`` is full: sync its data now, except under ``never``
        (then it is synced with the next sync).
        """
        if not self.data_dirty:
            return
        if self.policy is FsyncPolicy.NEVER:
            self._unsynced.add(index)
        else:
            os.fsync(write_fd)
        self.data_dirty = False

    def segment_deleted(self, index: int) -> None:
        self._unsynced.discard(index)
        self.directory_dirty = True

    def finish(self, position: Position, write_fd: int) -> None:
        """End of an operation: save the read position and sync as the policy asks."""
        if self.policy is FsyncPolicy.ALWAYS:
            if self._dirty(position):
                self.sync(position, write_fd)
            return
        if position != self._saved:
            self._save(position, self._log.write)
        if (
            self.policy is FsyncPolicy.INTERVAL
            and self._dirty(position)
            and time.monotonic() - self._last_sync >= self._interval_s
        ):
            self.sync(position, write_fd)

    def sync(self, position: Position, write_fd: int) -> None:
        """fsync appended data, then the read position, then the directory."""
        if self.data_dirty:
            os.fsync(write_fd)
            self.data_dirty = False
        for index in sorted(self._unsynced):
            fd = os.open(self._directory / segment_name(index), os.O_RDONLY | os.O_CLOEXEC)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        self._unsynced.clear()
        if position != self._durable:
            if not self._log.opened:  # the spool's first write: a fresh file of one record
                saved = self._save(position, self._replace_durably)
            else:
                saved = position == self._saved or self._save(position, self._log.write)
            if saved:
                self._durable = position
        if self._log.sync():
            self.directory_dirty = True
        if self.directory_dirty:
            os.fsync(self._directory_fd)
        self.directory_dirty = False
        self._last_sync = time.monotonic()

    def compact(self, position: Position) -> None:
        """On close: the position log shrinks to one record (see ``position``). On a full
        disk the log is left as it is: its greatest intact record is the position."""
        try:
            self._log.compact(*position, durable=self.policy is not FsyncPolicy.NEVER)
        except OSError as exc:
            if not is_disk_error(exc):
                raise
            self.position_behind = True

    def _replace_durably(self, segment: int, offset: int) -> None:
        self._log.replace(segment, offset, durable=True)

    def _save(self, position: Position, write: Callable[[int, int], None]) -> bool:
        """Write the position with ``write``; False if the disk is full (then the file keeps
        the older position, which costs re-delivery after a crash, never loss, and the next
        operation writes it again). A failed write leaves the log as it was
        (``PositionLog``)."""
        try:
            write(*position)
        except OSError as exc:
            if not is_disk_error(exc):
                raise
            self.position_behind = True
            return False
        self._saved = position
        self.position_behind = False
        return True

    def close(self) -> None:
        self._log.close()

    def _dirty(self, position: Position) -> bool:
        return (
            self.data_dirty
            or self.directory_dirty
            or bool(self._unsynced)
            or position != self._durable
        )
