"""The agent's on-disk spool: a bounded, crash-safe FIFO of byte records.

The spool knows only bytes and an unsigned 32-bit *weight* per record that the caller supplies
(for example the number of samples in a frame), so that drops can be counted in the caller's
units. Typical use::

    with Spool(directory) as spool:
        spool.append(frame_bytes, weight=n_samples)
        batch = spool.peek(max_records=50, max_bytes=1 << 20)
        ...                              # deliver the batch
        spool.ack(batch[-1].id)          # consumed up to and including that record

Layout on disk
    ``NNNNNNNNNNNNNNNNNNNN.seg``  append-only segment files, named by a 20-digit index that only
    grows; each holds whole records (28-byte header with magic, length, weight, append time,
    payload CRC-32 and header CRC-32, then the payload; see ``hostvitals.agent.spool.format``). A
    new
    segment starts when the next record would push the current one past ``segment_bytes``.
    ``position``  the read position (segment index, offset of the oldest unacknowledged
    record) with its own CRC-32, as an append-only log: every move appends one 28-byte record
    (one ``pwrite``) and the greatest intact record is the position. The file is replaced
    atomically (temporary file, then rename) by a single record when the spool opens, closes,
    or the log reaches 64 KiB; see ``hostvitals.agent.spool.position``.
    ``lock``  held with ``flock`` while a spool is open; a second open raises SpoolLockedError.

Bounds
    ``max_bytes`` bounds the unacknowledged bytes (headers included) and ``max_age_s`` the age
    of a record, judged by the append time in its header. Appending never waits: the oldest
    records are dropped first (a whole segment at once when all of it has to go, else record
    by record), and every drop is counted in ``SpoolStats.dropped_records`` and
    ``dropped_weight`` and, as it happens, reported to the ``on_drop`` observer if one was given
    (a ``Dropped``: one record, or the rest of a segment, with its weight and bound). The age
    bound is applied by append(), peek() and stats(). Dropping works while the consumer holds
    peeked records; acknowledging a dropped record is a no-op.
    A record larger than ``max_bytes`` by itself (payload plus 28-byte header) is refused with
    ValueError. Empty payloads are allowed. The files take at most about
    ``max_bytes + segment_bytes``: the acknowledged part of the oldest segment stays until that
    segment is fully consumed, then the file is deleted.

Delivery
    peek() returns the oldest records without removing them; ack(id) consumes everything up to
    and including ``id``. Delivery is at least once: a consumer that crashes between peek()
    and ack() sees the same records again. Record ids are ordered and stay valid across
    reopening the directory.

Durability (``fsync`` policy)
    Every append is written with ``pwrite`` straight to the segment file (no buffering in the
    process) and a record is appended to the position log at the end of every call that moved
    the read position, so after a *process* crash (kill -9) nothing appended is lost and
    nothing acknowledged is re-delivered, whatever the policy. What survives a *power loss* (or a
    kernel crash) depends on the policy:

    ``always``    append() returns after the record is fsynced (and the directory, when a new
                  segment was created); ack() returns after the position log is fsynced
                  (and the directory, when the log was replaced). Nothing that append()
                  returned for is lost and nothing acknowledged is re-delivered.
    ``interval``  segment data, then the position log, then the directory are fsynced at the
                  end of the first call made at least ``fsync_interval_s`` after the previous
                  sync, and by flush() and close(); a segment is also fsynced when it fills up.
                  Lost: the appends made since the last sync, at most ``fsync_interval_s``
                  worth of appends while the spool is being called (the spool has no timer: a
                  caller that may go quiet for long should call flush() periodically).
                  Re-delivered: the records acknowledged since the last sync.
    ``never``     no fsync except in flush() (close() does not sync either). Lost: whatever
                  the operating system had not written back yet (on Linux typically up to
                  about 30 s); acknowledged records may be re-delivered.

    The data is always fsynced before the position, so a durable position never points past
    durable data. Between syncs (``interval``, ``never``) the position log is written
    without fsync; should a power loss tear or lose its newest records, delivery restarts at
    the newest intact one, and with none intact at the oldest segment still on disk (more
    re-delivery, never loss of unacknowledged data that reached the disk). The collector
    deduplicates re-delivered frames.

Recovery on open
    Every segment is scanned once. A record that fails its checks (torn by a crash, or a
    flipped byte anywhere in it) starts a damaged span, which ends at the next offset holding
    a record with a valid magic, header checksum and payload checksum; the span is skipped and
    counted as one record in ``corrupt_records`` plus its size in ``corrupt_bytes``, so one bad
    record never blocks the ones after it. A damaged tail of the newest segment is truncated
    away so that appends continue on a clean boundary. A missing or damaged position file
    means "start from the oldest segment" (re-delivery, never loss); a position past the end of
    the data means "everything in that segment was consumed"; segments older than the
    position are deleted. Damage found while running (bytes changed under an open spool) is
    handled the same way when a read reaches it; the newest record, though, is read back from
    the bytes just written (the consumer of a frame it was handed as it was appended
    acknowledges it without reading the file again).

Threads
    Every public method holds one lock, so the spool may be called from worker threads (for
    example through ``asyncio.to_thread`` to keep fsync off the event loop). Only one Spool
    may have a directory open at a time.
"""

from hostvitals.agent.spool.errors import (
    DISK_ERRNOS,
    SpoolClosedError,
    SpoolError,
    SpoolLockedError,
    is_disk_error,
)
from hostvitals.agent.spool.fifo import Spool
from hostvitals.agent.spool.values import Dropped, FsyncPolicy, Record, RecordId, SpoolStats

__all__ = [
    "DISK_ERRNOS",
    "Dropped",
    "FsyncPolicy",
    "Record",
    "RecordId",
    "Spool",
    "SpoolClosedError",
    "SpoolError",
    "SpoolLockedError",
    "SpoolStats",
    "is_disk_error",
]
