"""The persisted partial aggregates of the cold path: one row per (tier, host, series, bucket).

A row is an :class:`~hostvitals.collector.rollups.rollup.Aggregate` of the samples merged into that
bucket so
far (count, exact sum as a fraction, min, max; the last value and its tick). Besides the
rows the store keeps which frames were merged (``cold_frames``, so a frame is merged at
most once, in the same transaction as its rows) and, per host, the newest tick merged
(``cold_progress``, which tells when a bucket can be considered complete).

The store lives in the collector's state database (:mod:`hostvitals.collector.statedb`) on its own
connection. It is not thread-safe by itself: the cold path serialises every call.

Eviction (:meth:`PartialStore.evict`), counted by reason:

- ``complete``: the host's cold frames have moved past the bucket's end (agents replay their
  spool oldest first) and the bucket was not merged into for ``grace_s``;
- ``idle``: not merged into for ``idle_s`` (the host went away mid-replay);
- ``overflow``: more than ``max_rows`` rows; the least recently merged go first.

Evicting a bucket loses no data: its value is in the tier, and a later merge into it starts
again from the tier's value (see :mod:`hostvitals.collector.rollups.coldpath`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from fractions import Fraction
from typing import Final

from hostvitals.collector.rollups.rollup import Aggregate
from hostvitals.shared.catalogue import Kind

# (tier, host, series id, bucket start ms); the series id is canonical JSON of its labels.
PartialKey = tuple[str, str, str, int]

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS cold_partials (
    tier TEXT NOT NULL,
    host TEXT NOT NULL,
    series TEXT NOT NULL,
    bucket_ms INTEGER NOT NULL,
    kind TEXT NOT NULL,
    count INTEGER NOT NULL,
    total TEXT NOT NULL,
    low REAL NOT NULL,
    high REAL NOT NULL,
    last_ms INTEGER NOT NULL,
    last REAL NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (tier, host, series, bucket_ms)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS cold_partials_updated ON cold_partials (updated_at);
CREATE TABLE IF NOT EXISTS cold_frames (
    agent TEXT NOT NULL,
    host TEXT NOT NULL,
    seq INTEGER NOT NULL,
    applied_at REAL NOT NULL,
    PRIMARY KEY (agent, host, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS cold_frames_applied ON cold_frames (applied_at);
CREATE TABLE IF NOT EXISTS cold_progress (
    host TEXT PRIMARY KEY,
    newest_ms INTEGER NOT NULL,
    updated_at REAL NOT NULL
) WITHOUT ROWID;
"""

REASONS: Final = ("complete", "idle", "overflow")


class PartialStore:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        conn.executescript(_SCHEMA)

    def __len__(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM cold_partials").fetchone()[0])

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Everything inside commits together, or not at all when it raises."""
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def applied(self, agent: str, host: str, seq: int) -> bool:
        row = self._conn.execute(
            "SELECT 1 FROM cold_frames WHERE agent = ? AND host = ? AND seq = ?",
            (agent, host, seq),
        ).fetchone()
        return row is not None

    def record_frame(self, agent: str, host: str, seq: int, newest_ms: int, now: float) -> None:
        """Remember a merged frame and advance the host's progress to ``newest_ms``."""
        conn = self._conn
        conn.execute(
            "INSERT OR REPLACE INTO cold_frames (agent, host, seq, applied_at) VALUES (?, ?, ?, ?)",
            (agent, host, seq, now),
        )
        conn.execute(
            "INSERT INTO cold_progress (host, newest_ms, updated_at) VALUES (?1, ?2, ?3) "
            "ON CONFLICT (host) DO UPDATE SET newest_ms = max(newest_ms, ?2), updated_at = ?3",
            (host, newest_ms, now),
        )

    def load(self, keys: Iterable[PartialKey]) -> dict[PartialKey, Aggregate]:
        out: dict[PartialKey, Aggregate] = {}
        query = (
            "SELECT kind, count, total, low, high, last_ms, last FROM cold_partials "
            "WHERE tier = ? AND host = ? AND series = ? AND bucket_ms = ?"
        )
        for key in keys:
            row = self._conn.execute(query, key).fetchone()
            if row is not None:
                kind, count, total, low, high, last_ms, last = row
                out[key] = Aggregate(
                    Kind(kind), int(count), Fraction(total), low, high, int(last_ms), last
                )
        return out

    def save(self, rows: Mapping[PartialKey, Aggregate], now: float) -> None:
        self._conn.executemany(
            "INSERT OR REPLACE INTO cold_partials (tier, host, series, bucket_ms, kind, count, "
            "total, low, high, last_ms, last, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    *key,
                    a.kind.value,
                    a.count,
                    str(a.total),
                    a.low,
                    a.high,
                    a.last_ms,
                    a.last,
                    now,
                )
                for key, a in rows.items()
            ],
        )

    def evict(
        self,
        now: float,
        widths_ms: Mapping[str, int],
        *,
        grace_s: float,
        idle_s: float,
        max_rows: int,
    ) -> dict[str, int]:
        """Drop complete, idle and surplus rows; returns how many went, by reason."""
        removed = dict.fromkeys(REASONS, 0)
        conn = self._conn
        with self.transaction():
            for tier, width in widths_ms.items():
                cur = conn.execute(
                    "DELETE FROM cold_partials WHERE tier = ?1 AND updated_at <= ?2 "
                    "AND bucket_ms + ?3 <= "
                    "(SELECT newest_ms FROM cold_progress p WHERE p.host = cold_partials.host)",
                    (tier, now - grace_s, width),
                )
                removed["complete"] += max(cur.rowcount, 0)
            cur = conn.execute("DELETE FROM cold_partials WHERE updated_at <= ?", (now - idle_s,))
            removed["idle"] += max(cur.rowcount, 0)
            excess = len(self) - max_rows
            if excess > 0:
                cur = conn.execute(
                    "DELETE FROM cold_partials WHERE (tier, host, series, bucket_ms) IN ("
                    " SELECT tier, host, series, bucket_ms FROM cold_partials"
                    " ORDER BY updated_at LIMIT ?)",
                    (excess,),
                )
                removed["overflow"] += max(cur.rowcount, 0)
            # Frames and progress are kept as long as a bucket they touched could be.
            conn.execute("DELETE FROM cold_frames WHERE applied_at <= ?", (now - idle_s,))
            conn.execute("DELETE FROM cold_progress WHERE updated_at <= ?", (now - idle_s,))
            frames = int(conn.execute("SELECT COUNT(*) FROM cold_frames").fetchone()[0])
            if frames > max_rows:
                conn.execute(
                    "DELETE FROM cold_frames WHERE (agent, host, seq) IN ("
                    " SELECT agent, host, seq FROM cold_frames ORDER BY applied_at LIMIT ?)",
                    (frames - max_rows,),
                )
        return removed
