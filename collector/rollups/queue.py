"""The persisted queue of rollup buckets to (re)compute: (tier, host, bucket start).

The ingest path marks every bucket a frame touches, in every rollup tier, *before* the frame
is written to the raw tier: a crash between the two leaves a mark for data that may not
exist, which only costs one needless recomputation, never a missed one. A bucket is due
``settle_s`` after both its end and its latest mark, so the raw rows are searchable when it
is computed; a mark arriving while a bucket is being computed pushes its due time forward,
and :meth:`done` keeps such a row for the next pass.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from hostvitals.collector.rollups.tiers import Tier

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS rollup_pending (
    tier TEXT NOT NULL,
    host TEXT NOT NULL,
    bucket_ms INTEGER NOT NULL,
    due_at REAL NOT NULL,
    PRIMARY KEY (tier, host, bucket_ms)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS rollup_pending_due ON rollup_pending (due_at);
"""


@dataclass(frozen=True, slots=True)
class Pending:
    tier: str
    host: str
    bucket_ms: int
    due_at: float


class QueueFull(Exception):
    """The queue holds ``max_pending`` buckets already."""


class RollupQueue:
    def __init__(
        self,
        conn: sqlite3.Connection,
        tiers: Sequence[Tier],
        *,
        settle_s: float,
        max_pending: int,
    ) -> None:
        self._conn = conn
        self._tiers = [t for t in tiers if not t.is_raw]
        self._settle = settle_s
        self._max = max_pending
        self._lock = threading.Lock()
        with self._lock:
            conn.executescript(_SCHEMA)
            self._size = int(conn.execute("SELECT COUNT(*) FROM rollup_pending").fetchone()[0])

    def __len__(self) -> int:
        return self._size

    def mark(
        self, host: str, first_ms: int, last_ms: int, now: float, since_ms: int | None = None
    ) -> None:
        """Mark the buckets holding ticks ``first_ms .. last_ms`` of ``host``.

        Buckets starting before ``since_ms`` are left out: they belong to the cold path
        (:mod:`hostvitals.collector.rollups.coldpath`). Raises QueueFull (nothing marked) when the
        queue is at
        its bound.
        """
        rows = []
        for tier in self._tiers:
            width = tier.width_ms
            for bucket in tier.buckets(first_ms, last_ms):
                if since_ms is not None and bucket < since_ms:
                    continue
                due = max(now, (bucket + width) / 1000.0) + self._settle
                rows.append((tier.name, host, bucket, due))
        if not rows:
            return
        with self._lock:
            if self._size + len(rows) > self._max:
                raise QueueFull(f"{self._size} rollup buckets are waiting (limit {self._max})")
            conn = self._conn
            conn.execute("BEGIN")
            try:
                before = conn.total_changes
                conn.executemany(
                    "INSERT OR IGNORE INTO rollup_pending (tier, host, bucket_ms, due_at) "
                    "VALUES (?, ?, ?, ?)",
                    rows,
                )
                added = conn.total_changes - before
                conn.executemany(
                    "UPDATE rollup_pending SET due_at = max(due_at, ?4) "
                    "WHERE tier = ?1 AND host = ?2 AND bucket_ms = ?3",
                    rows,
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            self._size += added

    def due(self, now: float, limit: int) -> list[Pending]:
        """Buckets due at ``now``, finest tier and oldest bucket first."""
        order = {t.name: i for i, t in enumerate(self._tiers)}
        with self._lock:
            rows = self._conn.execute(
                "SELECT tier, host, bucket_ms, due_at FROM rollup_pending WHERE due_at <= ? "
                "ORDER BY bucket_ms LIMIT ?",
                (now, limit),
            ).fetchall()
        items = [Pending(str(t), str(h), int(b), float(d)) for t, h, b, d in rows]
        items.sort(key=lambda p: (order.get(p.tier, len(order)), p.bucket_ms, p.host))
        return items

    def done(self, items: Sequence[Pending]) -> None:
        """Remove computed buckets, unless marked again since they were read."""
        if not items:
            return
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN")
            try:
                before = conn.total_changes
                conn.executemany(
                    "DELETE FROM rollup_pending "
                    "WHERE tier = ? AND host = ? AND bucket_ms = ? AND due_at <= ?",
                    [(p.tier, p.host, p.bucket_ms, p.due_at) for p in items],
                )
                removed = conn.total_changes - before
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            self._size -= removed
