"""Merging replicas' live views: the newest row per host, and peer rows as host snapshots."""

from __future__ import annotations

from typing import Any

from hostvitals.collector.live.cluster import merge_snapshots, newest_per_host
from hostvitals.collector.live.current import HostSnapshot


def row(host: str, last_seen: float, **extra: Any) -> dict[str, Any]:
    return {"host": host, "last_seen": last_seen, **extra}


def test_the_newest_row_of_each_host_wins_sorted_by_host() -> None:
    mine = [row("b", 10, at="mine"), row("a", 5, at="mine")]
    theirs = [row("a", 7, at="peer"), row("c", 1, at="peer"), row("b", 9, at="peer")]
    merged = newest_per_host([mine, theirs])
    assert [(r["host"], r["at"]) for r in merged] == [("a", "peer"), ("b", "mine"), ("c", "peer")]


def test_rows_a_peer_of_another_version_sends_are_left_out() -> None:
    odd: list[Any] = [None, "a", {"host": 3, "last_seen": 1}, {"host": "x", "last_seen": "1"}]
    assert newest_per_host([odd, [row("ok", 1)]]) == [row("ok", 1)]


def snapshot(host: str, last_seen: float) -> HostSnapshot:
    return HostSnapshot(host, "agent", last_seen, 1.0, 10.0, int(last_seen * 1000), "up", (), None)


def test_peer_hosts_join_the_local_ones_as_snapshots_without_series() -> None:
    local = [snapshot("moved", 100.0), snapshot("here", 200.0)]
    peer_rows = [
        row(
            "moved",
            150.0,
            agent_id="agent",
            interval_s=1.0,
            flush_period_s=10.0,
            timestamp=149.0,
            status="up",
        ),
        row("there", 120.0, agent_id="x", interval_s=10, flush_period_s=20, timestamp=119.5),
        row("broken", 130.0),  # no flush period: left out
    ]
    merged = {h.host: h for h in merge_snapshots(local, [peer_rows])}
    assert sorted(merged) == ["here", "moved", "there"]
    assert merged["moved"].last_seen == 150.0  # the peer heard from it last
    assert merged["here"] is local[1]
    there = merged["there"]
    assert (there.flush_period_s, there.newest_ms, there.series, there.processes) == (
        20.0,
        119_500,
        (),
        None,
    )
