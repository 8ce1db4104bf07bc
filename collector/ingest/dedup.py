"""The ledger of written frames, so a frame sent again is acknowledged, not written twice.

``(agent, host, seq)`` names a frame: an agent resends a frame whose acknowledgement it did
not get (a crash, a lost answer), or replays its spool, in any order. A frame is entered in
the ledger after VictoriaMetrics accepted it; the ledger is persisted (see
:mod:`hostvitals.collector.statedb`), so a restarted collector still recognises it. The host is
part of
the key so two machines cloned with the same agent id do not swallow each other's frames.

The ledger is bounded: at most ``per_agent`` frames per host, the most recently written ones
whichever agent ids sent them (an agent that rotates its id cannot grow it, nor the highest
sequence numbers kept in memory: those of agent ids with no frame left go), and frames
written more than ``ttl_s`` ago are forgotten. A frame forgotten is written again when it
comes back; VictoriaMetrics' ``-dedup.minScrapeInterval`` then stores its samples once, which
is the last line of defence.

Two copies arriving at the same moment are the pipeline's business (it lets the second wait
for the first); the ledger only answers "already written?".

Agents number their frames in order, so nearly every frame carries a higher sequence number
than any frame of its (agent, host) written before: the ledger keeps that highest number in
memory (read from the database at start) and answers such a frame without a query. Only a
resend, a replay or an agent that started counting again is looked up. The ingest path asks
for every frame on the event loop, and a query there (which releases the interpreter lock
and must get it back) was where the loop most often waited under load.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from typing import Final

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS written_frames (
    id INTEGER PRIMARY KEY,
    agent TEXT NOT NULL,
    host TEXT NOT NULL,
    seq INTEGER NOT NULL,
    written_at REAL NOT NULL,
    UNIQUE (agent, host, seq)
);
CREATE INDEX IF NOT EXISTS written_frames_at ON written_frames (written_at);
DROP INDEX IF EXISTS written_frames_order;
CREATE INDEX IF NOT EXISTS written_frames_host_order ON written_frames (host, id);
"""

# Trim the ledger to its bounds after this many new entries (and at least every minute).
_SWEEP_EVERY: Final = 4096

ROWS_PER_INSERT: Final = 200
"""Frames entered by one INSERT statement (four parameters each: within the 999 parameters
of older SQLite builds)."""
_INSERT_HEAD: Final = "INSERT INTO written_frames (agent, host, seq, written_at) VALUES "
_ROW: Final = "(?, ?, ?, ?)"
_INSERT_TAIL: Final = (
    " ON CONFLICT (agent, host, seq) DO UPDATE SET written_at = excluded.written_at"
)


class FrameLedger:
    def __init__(self, conn: sqlite3.Connection, per_agent: int, ttl_s: float) -> None:
        self._conn = conn
        self._per_agent = per_agent
        self._ttl = ttl_s
        self._lock = threading.Lock()
        self._since_sweep = 0
        self._next_sweep = 0.0
        self._touched: set[str] = set()  # hosts
        with self._lock:
            conn.executescript(_SCHEMA)
            rows = conn.execute(
                "SELECT agent, host, MAX(seq), MAX(written_at) FROM written_frames"
                " GROUP BY agent, host"
            ).fetchall()
        # Per (agent, host): the highest sequence number written, and when it last wrote.
        self._highest: dict[tuple[str, str], tuple[int, float]] = {
            (str(agent), str(host)): (int(seq), float(at)) for agent, host, seq, at in rows
        }

    def __len__(self) -> int:
        with self._lock:
            row = self._conn.execute("SELECT COUNT(*) FROM written_frames").fetchone()
        return int(row[0])

    def seen(self, agent_id: str, host: str, seq: int) -> bool:
        highest = self._highest.get((agent_id, host))
        if highest is None or seq > highest[0]:
            return False  # newer than anything written: no need to look
        with self._lock:
            row = self._conn.execute(
                "SELECT 1 FROM written_frames WHERE agent = ? AND host = ? AND seq = ?",
                (agent_id, host, seq),
            ).fetchone()
        return row is not None

    def remember(self, agent_id: str, host: str, seq: int, now: float) -> None:
        self.remember_many([(agent_id, host, seq)], now)

    def remember_many(self, frames: Sequence[tuple[str, str, int]], now: float) -> None:
        """Enter written frames (agent, host, seq) in one transaction.

        A batch of up to ``ROWS_PER_INSERT`` frames is one statement, which is its own
        transaction: the writer thread calling this gives up the interpreter lock once per
        statement (``sqlite3`` releases it around each step) and, under load, waits to get it
        back from the event loop each time. Inserting row by row between a BEGIN and a COMMIT
        made that a wait per row: in ``bench/ingest.py`` at 200,000 samples/s, the p99 of this
        call went from 22-49 ms to 6-11 ms.
        """
        if self._per_agent == 0 or not frames:
            return
        chunks = [frames[i : i + ROWS_PER_INSERT] for i in range(0, len(frames), ROWS_PER_INSERT)]
        with self._lock:
            conn = self._conn
            if len(chunks) > 1:
                conn.execute("BEGIN")
            try:
                for chunk in chunks:
                    conn.execute(
                        _INSERT_HEAD + ", ".join([_ROW] * len(chunk)) + _INSERT_TAIL,
                        [v for agent_id, host, seq in chunk for v in (agent_id, host, seq, now)],
                    )
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            if conn.in_transaction:
                conn.execute("COMMIT")
            self._since_sweep += len(frames)
            for agent_id, host, seq in frames:
                pair = (agent_id, host)
                self._touched.add(host)
                highest = self._highest.get(pair)
                self._highest[pair] = (seq if highest is None else max(seq, highest[0]), now)
            if self._since_sweep >= _SWEEP_EVERY or now >= self._next_sweep:
                self._sweep(now)

    def sweep(self, now: float) -> None:
        """Trim to the bounds now (it also happens by itself as frames are remembered)."""
        with self._lock:
            self._sweep(now)

    def _sweep(self, now: float) -> None:
        self._since_sweep = 0
        self._next_sweep = now + min(60.0, self._ttl)
        conn = self._conn
        conn.execute("BEGIN")
        try:
            conn.execute("DELETE FROM written_frames WHERE written_at < ?", (now - self._ttl,))
            agents: dict[str, list[str]] = {}  # host -> agent ids with a highest number
            for agent_id, host in self._highest:
                agents.setdefault(host, []).append(agent_id)
            for host in self._touched:
                conn.execute(
                    "DELETE FROM written_frames WHERE host = ?1 AND id <= ("
                    " SELECT id FROM written_frames WHERE host = ?1"
                    " ORDER BY id DESC LIMIT 1 OFFSET ?2)",
                    (host, self._per_agent),
                )
                if len(agents.get(host, ())) > 1:  # rotated ids: forget those with no frame left
                    kept = {
                        str(agent)
                        for (agent,) in conn.execute(
                            "SELECT DISTINCT agent FROM written_frames WHERE host = ?", (host,)
                        )
                    }
                    for agent_id in agents[host]:
                        if agent_id not in kept:
                            del self._highest[(agent_id, host)]
            self._touched.clear()
            cutoff = now - self._ttl
            for pair in [p for p, (_, at) in self._highest.items() if at < cutoff]:
                del self._highest[pair]
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
