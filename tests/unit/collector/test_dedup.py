"""The ledger of written frames: keyed by (agent, host, seq), bounded per host, and persisted
across restarts."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from hostvitals.collector import statedb
from hostvitals.collector.ingest.dedup import ROWS_PER_INSERT, FrameLedger


def ledger(per_agent: int = 3, ttl_s: float = 100, state_dir: Path | None = None) -> FrameLedger:
    return FrameLedger(statedb.connect(state_dir), per_agent, ttl_s)


def test_remembers_frames_per_agent_and_host() -> None:
    recent = ledger()
    recent.remember("a", "h", 1, 0)
    assert recent.seen("a", "h", 1)
    assert not recent.seen("a", "h", 2)
    assert not recent.seen("b", "h", 1)
    # A clone with the same agent id on another host is not a resend.
    assert not recent.seen("a", "other-host", 1)


def test_keeps_only_the_most_recently_written_per_host() -> None:
    recent = ledger(per_agent=3)
    for seq in (4, 0, 3, 1, 2):  # a spool replayed out of order
        recent.remember("a", "h", seq, 0)
    recent.remember("b", "h", 9, 0)  # another agent id for the same host shares its bound
    recent.remember("a", "other", 1, 0)
    recent.sweep(1)
    assert [recent.seen("a", "h", s) for s in (4, 0, 3, 1, 2)] == [False, False, False, True, True]
    assert recent.seen("b", "h", 9)
    assert recent.seen("a", "other", 1)
    assert len(recent) == 4


def test_rotating_agent_ids_do_not_grow_it() -> None:
    recent = ledger(per_agent=5)
    for n in range(5000):  # more than a sweep's worth of new entries
        recent.remember(f"rotated-{n}", "h", 1, 0)
    recent.sweep(1)
    assert len(recent) == 5
    assert recent.seen("rotated-4999", "h", 1)
    assert not recent.seen("rotated-0", "h", 1)
    # The highest sequence number kept in memory per (agent, host) is bounded too.
    assert len(recent._highest) == 5
    assert recent.seen("rotated-4995", "h", 1)  # those with frames left keep theirs


def test_forgets_frames_older_than_the_ttl() -> None:
    recent = ledger(ttl_s=10)
    recent.remember("a", "h", 1, 0)
    recent.remember("b", "h", 1, 5)
    recent.remember("b", "h", 2, 12)
    assert not recent.seen("a", "h", 1)
    assert recent.seen("b", "h", 1)
    assert len(recent) == 2


def test_survives_a_restart(tmp_path: Path) -> None:
    first = ledger(state_dir=tmp_path)
    first.remember("a", "h", 7, 0)
    again = ledger(state_dir=tmp_path)  # a new process opening the same state directory
    assert again.seen("a", "h", 7)
    assert not again.seen("a", "h", 8)


def test_zero_disables_it() -> None:
    recent = ledger(per_agent=0, ttl_s=10)
    recent.remember("a", "h", 1, 0)
    assert not recent.seen("a", "h", 1)


def test_a_frame_numbered_above_all_written_ones_is_answered_without_a_query(
    tmp_path: Path,
) -> None:
    conn = statedb.connect(tmp_path)
    recent = FrameLedger(conn, 10, 100)
    queries: list[str] = []
    conn.set_trace_callback(queries.append)
    for seq in (3, 1, 2):
        recent.remember("a", "h", seq, 0)
    queries.clear()
    assert not recent.seen("a", "h", 4)
    assert not recent.seen("new-agent", "h", 0)
    assert queries == []
    assert recent.seen("a", "h", 2)  # a resend: looked up
    assert not recent.seen("a", "h", 0)
    assert len(queries) == 2
    # A restarted collector knows the highest numbers from the database.
    again_conn = statedb.connect(tmp_path)
    again = FrameLedger(again_conn, 10, 100)
    again_conn.set_trace_callback(queries.append)
    queries.clear()
    assert not again.seen("a", "h", 4)
    assert queries == []
    assert again.seen("a", "h", 3)


def test_an_agent_forgotten_after_the_ttl_is_forgotten_in_memory_too() -> None:
    recent = ledger(ttl_s=10)
    recent.remember("a", "h", 5, 0)
    recent.sweep(20)
    assert not recent.seen("a", "h", 5)
    recent.remember("a", "h", 1, 21)  # it starts counting again
    assert recent.seen("a", "h", 1)
    assert not recent.seen("a", "h", 2)


def test_a_batch_over_one_statement_is_entered_whole_in_one_transaction() -> None:
    recent = ledger(per_agent=10_000)
    frames = [("a", f"h{n % 7}", n) for n in range(2 * ROWS_PER_INSERT + 3)]
    frames.append(frames[0])  # a frame twice in one batch is entered once
    recent.remember_many(frames, 5)
    assert len(recent) == 2 * ROWS_PER_INSERT + 3
    assert all(recent.seen(agent, host, seq) for agent, host, seq in frames)
    assert not recent._conn.in_transaction


def test_a_batch_that_fails_leaves_nothing_of_itself() -> None:
    recent = ledger(per_agent=10_000)
    recent.remember("a", "h", 1, 0)
    # The last statement fails (a host of the wrong type cannot be bound): the chunks before
    # it, already executed, are rolled back with it.
    frames: list[tuple[str, Any, int]] = [("a", "h", n) for n in range(2, ROWS_PER_INSERT + 5)]
    frames.append(("a", object(), 999))
    with pytest.raises(sqlite3.Error):
        recent.remember_many(frames, 1)
    assert len(recent) == 1
    assert not recent._conn.in_transaction
    recent.remember_many([("a", "h", 2)], 2)  # and it keeps working
    assert recent.seen("a", "h", 2)
