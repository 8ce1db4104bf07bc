"""Silences' size limits, the cap on silences in force, and their rows in the state DB."""

from __future__ import annotations

import sqlite3

import pytest

from hostvitals.collector.alerts.silences import (
    MAX_COMMENT_CHARS,
    MAX_MATCHERS,
    MAX_VALUE_CHARS,
    Matcher,
    SilenceError,
    Silences,
)
from hostvitals.collector.alerts.silencestore import SilenceStore

NOW = 1_000_000.0


def matcher(value: str = "web-1") -> Matcher:
    return Matcher.create("host", value)


def add(
    silences: Silences,
    *,
    comment: str = "deploy",
    ms: list[Matcher] | None = None,
    now: float = NOW,
) -> str:
    silence = silences.add(ms or [matcher()], now, now + 60, "me", comment, now)
    return silence.id


@pytest.mark.parametrize(
    ("kwargs", "what"),
    [
        ({"comment": "x" * (MAX_COMMENT_CHARS + 1)}, "comment"),
        ({"ms": [matcher("v" * (MAX_VALUE_CHARS + 1))]}, "value"),
        ({"ms": [Matcher.create(f"l{i}", "v") for i in range(MAX_MATCHERS + 1)]}, "matchers"),
    ],
)
def test_oversized_parts_are_refused(kwargs: dict[str, object], what: str) -> None:
    silences = Silences(10)
    with pytest.raises(SilenceError) as refused:
        add(silences, **kwargs)  # type: ignore[arg-type]
    assert refused.value.reason == "too_large"
    assert what in str(refused.value)
    assert silences.all() == []
    add(silences, comment="x" * MAX_COMMENT_CHARS)  # at the limit is fine


def test_expired_silences_do_not_count_against_the_cap() -> None:
    silences = Silences(3)
    for _ in range(3):
        silences.expire(add(silences), NOW + 1)
    later = NOW + 2
    add(silences, now=later)  # three expired (kept for the retention), one new in force
    add(silences, now=later)
    add(silences, now=later)
    with pytest.raises(SilenceError) as refused:
        add(silences, now=later)
    assert refused.value.reason == "too_many"


def test_expired_silences_kept_are_bounded_oldest_first() -> None:
    silences = Silences(2)
    ids = []
    for i in range(4):
        sid = add(silences, now=NOW + i)
        silences.expire(sid, NOW + i + 0.5)
        ids.append(sid)
    silences.collect(NOW + 10)
    assert [s.id for s in silences.all()] == ids[2:]


def test_changes_are_rows_and_survive_a_restart() -> None:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    silences = Silences(10, rows=SilenceStore(conn))
    kept, ended = add(silences), add(silences)
    silences.expire(ended, NOW + 5)
    again = Silences(10, rows=SilenceStore(conn))
    again.load(SilenceStore(conn).load())
    assert {s.id: s.state(NOW + 10) for s in again.all()} == {kept: "active", ended: "expired"}
    silences.collect(NOW + 60 + 86_400 + 1)  # both past their retention
    assert [d["id"] for d in SilenceStore(conn).load()] == []


def test_silences_of_the_old_state_file_move_into_rows_once() -> None:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    old = Silences(10)
    add(old)
    # An old file may hold what the limits now refuse: it is read all the same.
    docs = [dict(old.dump()[0], comment="big " * 100_000)]
    store = SilenceStore(conn)
    assert store.restore(docs) == docs
    assert store.restore([]) == docs  # the rows are what counts from now on
    doc = dict(docs[0], comment="changed")
    assert store.restore([doc]) == docs  # the file is not read again once rows exist
