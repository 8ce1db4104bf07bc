"""The journal of the open frame: its ticks, on disk, until the frame is in the spool.

A frame collects ``flush_interval`` seconds of ticks in memory before it is appended to the
spool. So that a ``kill -9`` (or an OOM kill) in that time loses nothing, each tick's rows are
also appended to a small spool of their own (``<state_dir>/journal``), tagged with the
sequence number of the frame they belong to. Once a frame is in the spool, the journal is
acknowledged up to its last tick. On start, whatever the journal still holds is rebuilt into
frames, with the journaled sequence numbers, and spooled: if the crash came after the
original frame reached the spool, the rebuilt one has the same number and the collector
takes it as a repeat.

On a full disk (``DISK_ERRNOS``) a tick that cannot be journaled stays in memory only: it
still reaches the spool with its frame, but a crash before that loses it.

A journal record is msgpack ``[seq, host, interval_s, tick_ms, rows]`` with rows as
``[metric, [[name, value], ...], value]``.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable
from pathlib import Path

import msgpack

from hostvitals.agent.batcher import Batcher
from hostvitals.agent.samplers.base import Row
from hostvitals.agent.spool import FsyncPolicy, RecordId, Spool, is_disk_error
from hostvitals.shared.protocol import Frame

log = logging.getLogger(__name__)

JOURNAL_DIR = "journal"
JOURNAL_MAX_BYTES = 64 * 2**20
JOURNAL_SEGMENT_BYTES = 2**20
REPLAY_BATCH = 256


def encode_tick(seq: int, host: str, interval_s: float, tick_ms: int, rows: Iterable[Row]) -> bytes:
    packed: bytes = msgpack.packb([seq, host, interval_s, tick_ms, list(rows)])
    return packed


def decode_tick(data: bytes) -> tuple[int, str, float, int, list[Row]]:
    """The fields of a journal record; ValueError if it is not one."""
    try:
        seq, host, interval_s, tick_ms, raw_rows = msgpack.unpackb(data)
        rows: list[Row] = [
            (str(metric), tuple((str(k), str(v)) for k, v in labels), value)
            for metric, labels, value in raw_rows
        ]
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        raise ValueError(f"not a journal record: {exc}") from exc
    if not (isinstance(seq, int) and isinstance(host, str) and isinstance(tick_ms, int)):
        raise ValueError("not a journal record: bad field types")
    return seq, host, float(interval_s), tick_ms, rows


class Journal:
    """Ticks of the open frame, crash-safe; see the module docstring."""

    def __init__(self, directory: Path, fsync: FsyncPolicy, fsync_interval_s: float) -> None:
        self._spool = Spool(
            directory,
            max_bytes=JOURNAL_MAX_BYTES,
            segment_bytes=JOURNAL_SEGMENT_BYTES,
            fsync=fsync,
            fsync_interval_s=fsync_interval_s,
        )
        self._entries: deque[tuple[RecordId, int]] = deque()
        self.disk_full = False
        """The last tick could not be journaled because the disk was full (``DISK_ERRNOS``)."""

    def record(self, seq: int, host: str, interval_s: float, tick_ms: int, rows: list[Row]) -> None:
        """Journal one tick of the frame numbered ``seq``."""
        data = encode_tick(seq, host, interval_s, tick_ms, rows)
        try:
            record_id = self._spool.append(data, len(rows))
        except ValueError:  # one tick larger than the whole journal: it stays in memory only
            log.warning("a tick of %d rows is too large to journal", len(rows))
            return
        except OSError as exc:  # the tick stays in memory only: lost only if the agent dies
            if not is_disk_error(exc):
                raise
            if not self.disk_full:
                log.error(
                    "journal: cannot write (%s): the open frame is kept in memory only until "
                    "there is room again",
                    exc.strerror or exc,
                )
            self.disk_full = True
            return
        if self.disk_full:
            log.warning("journal: writing again")
        self.disk_full = False
        self._entries.append((record_id, seq))

    def release(self, open_seq: int | None) -> None:
        """Forget every tick not belonging to the open frame ``open_seq`` (already spooled)."""
        last: RecordId | None = None
        while self._entries and self._entries[0][1] != open_seq:
            last = self._entries.popleft()[0]
        if last is not None:
            self._spool.ack(last)

    def replay(self, agent_id: str) -> list[Frame]:
        """Frames rebuilt from ticks a previous run journaled but did not spool, oldest first.

        Call once, right after opening and before ``record``. Damaged records are skipped by
        the spool (and counted there).
        """
        frames: list[Frame] = []
        current: tuple[int, Batcher] | None = None
        last: RecordId | None = None
        while batch := self._spool.peek(REPLAY_BATCH):
            for entry in batch:
                last = entry.id
                try:
                    seq, host, interval_s, tick_ms, rows = decode_tick(entry.payload)
                except ValueError as exc:
                    log.warning("journal: skipping a record: %s", exc)
                    continue
                if current is None or current[0] != seq:
                    if current is not None and (frame := current[1].flush()) is not None:
                        frames.append(frame)
                    current = (seq, _rebuilder(agent_id, host, interval_s, seq))
                frames.extend(current[1].add(tick_ms, rows))
            self._spool.ack(batch[-1].id)
        if current is not None and (frame := current[1].flush()) is not None:
            frames.append(frame)
        if last is not None:
            log.info("rebuilt %d frame(s) from the journal of the previous run", len(frames))
        return frames

    def flush(self) -> None:
        self._spool.flush()

    def close(self) -> None:
        self._spool.close()

    def corrupt_records(self) -> int:
        return self._spool.stats().corrupt_records


def _rebuilder(agent_id: str, host: str, interval_s: float, seq: int) -> Batcher:
    def same_seq() -> int:
        return seq

    return Batcher(
        agent_id=agent_id,
        host=host,
        interval_s=interval_s,
        flush_interval_s=10**9,
        max_samples=10**9,
        next_seq=same_seq,
    )
