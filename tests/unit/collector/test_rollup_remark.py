"""Rows re-sent to the raw tier after a restart mark their rollup buckets again."""

from __future__ import annotations

import sqlite3

import orjson

from hostvitals.collector.rollups.queue import RollupQueue
from hostvitals.collector.rollups.remark import mark_resent, spans
from hostvitals.collector.rollups.tiers import Tier
from hostvitals.collector.vm.endpoints import Endpoints


def body(host: str, stamps: list[int]) -> bytes:
    line = {
        "metric": {"__name__": "node_load1", "host": host},
        "values": [1.0] * len(stamps),
        "timestamps": stamps,
    }
    return orjson.dumps(line) + b"\n"


def test_spans_per_host_across_bodies() -> None:
    bodies = [body("a", [5000, 1000]) + body("b", [7000]), body("a", [9000]), b"\n"]
    assert spans(bodies) == {"a": (1000, 9000), "b": (7000, 7000)}


def test_the_buckets_of_resent_rows_are_due_again() -> None:
    raw, tier = Endpoints.single("http://raw"), Endpoints.single("http://t")
    tiers = [Tier("raw", raw, 0, 86_400), Tier("10s", tier, 10, 86_400)]
    queue = RollupQueue(sqlite3.connect(":memory:"), tiers, settle_s=1, max_pending=100)
    assert mark_resent(queue, [body("a", [1000, 15_000])], now=100.0) == 1
    due = queue.due(200.0, 10)
    assert sorted((p.tier, p.host, p.bucket_ms) for p in due) == [
        ("10s", "a", 0),
        ("10s", "a", 10_000),
    ]
