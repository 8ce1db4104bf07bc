"""Tier choice, bucket math, the rollup computation and the pending-bucket queue."""

from __future__ import annotations

from dataclasses import replace

import orjson
import pytest

from hostvitals.collector import statedb
from hostvitals.collector.config.settings import Settings
from hostvitals.collector.ingest.cardinality import SeriesBudget
from hostvitals.collector.ingest.validate import PolicyError
from hostvitals.collector.rollups.queue import QueueFull, RollupQueue
from hostvitals.collector.rollups.rollup import parse_export, rollup_bucket
from hostvitals.collector.rollups.tiers import UnknownTier, choose, tiers_from
from hostvitals.shared.protocol import series_key

TIERS = tiers_from(Settings())
NOW = 1_000_000_000.0
DAY = 86_400


@pytest.mark.parametrize(
    ("age", "step", "resolution", "tier", "used_step"),
    [
        (3600, 15, None, "raw", 15),
        (DAY - 301, 15, None, "raw", 15),
        (DAY - 299, 15, None, "1m", 60),  # within the edge margin: the coarser tier
        (DAY, 15, None, "1m", 60),  # the 24 h preset
        (DAY + 1, 15, None, "1m", 60),
        (6 * DAY, 120, None, "1m", 120),
        (8 * DAY, 15, "auto", "5m", 300),
        (40 * DAY, 15, None, "1h", 3600),
        (4000 * DAY, 15, None, "1h", 3600),
        (3600, 15, "1h", "1h", 3600),
    ],
)
def test_choose(age: int, step: float, resolution: str | None, tier: str, used_step: float) -> None:
    choice = choose(TIERS, NOW - age, step, NOW, resolution)
    assert (choice.tier.name, choice.step) == (tier, used_step)


@pytest.mark.parametrize("preset_days", [1, 7, 30, 365])
def test_requests_for_one_preset_range_agree_on_the_tier_however_long_each_waited(
    preset_days: int,
) -> None:
    """A page asks for each chart family in its own request with the same start; the server
    plans each at its own time. The presets' starts sit on the shipped retentions' edges."""
    start = NOW - preset_days * DAY
    chosen = {
        choose(TIERS, start, 15, NOW + waited, None).tier.name for waited in (-2, 0, 0.5, 5, 30)
    }
    assert len(chosen) == 1, chosen


def test_a_short_retention_keeps_most_of_itself() -> None:
    short = (replace(TIERS[0], retention_s=600), *TIERS[1:])  # raw for 10 minutes
    assert choose(short, NOW - 590, 15, NOW, None).tier.name == "raw"
    assert choose(short, NOW - 595, 15, NOW, None).tier.name == "1m"


def test_choose_unknown() -> None:
    with pytest.raises(UnknownTier, match="valid: auto, raw, 1m, 5m, 1h"):
        choose(TIERS, NOW, 1, NOW, "2m")


def test_buckets() -> None:
    one_minute = TIERS[1]
    assert list(one_minute.buckets(59_999, 120_000)) == [0, 60_000, 120_000]
    assert list(one_minute.buckets(60_000, 60_000)) == [60_000]


def export_line(name: str, labels: dict[str, str], points: list[tuple[int, float]]) -> bytes:
    doc = {
        "metric": {"__name__": name, **labels},
        "values": [v for _, v in points],
        "timestamps": [t for t, _ in points],
    }
    return orjson.dumps(doc)


def test_rollup_of_gauges_and_counters() -> None:
    body = b"\n".join(
        [
            export_line("node_load1", {"host": "h"}, [(60_000, 1.0), (70_000, 5.0)]),
            # The same series again (export splits blocks), one sample repeated, one outside.
            export_line("node_load1", {"host": "h"}, [(70_000, 5.0), (80_000, 0.0), (120_000, 9)]),
            export_line(
                "node_cpu_seconds_total",
                {"host": "h", "cpu": "0", "mode": "idle"},
                [(61_000, 10.0), (119_999, 12.5)],
            ),
            export_line("not_in_catalogue", {"host": "h"}, [(60_000, 1.0)]),
        ]
    )
    rollup = rollup_bucket(parse_export(body, 60_000, 120_000), 60_000, 60_000)
    lines = [orjson.loads(line) for line in rollup.body.splitlines()]
    got = {(d["metric"]["__name__"], d["timestamps"][0]): d["values"][0] for d in lines}
    assert got == {
        ("node_cpu_seconds_total", 60_002): 12.5,
        ("node_cpu_seconds_total:count", 60_002): 2.0,
        ("node_load1", 60_003): 2.0,
        ("node_load1:min", 60_003): 0.0,
        ("node_load1:max", 60_003): 5.0,
        ("node_load1:count", 60_003): 3.0,
    }
    assert (rollup.series, rollup.samples) == (2, 5)


def test_average_does_not_depend_on_sample_order() -> None:
    values = [0.1, 1e16, 0.2, -1e16, 0.3] * 7
    points = list(enumerate(values))
    one = rollup_bucket(parse_export(export_line("node_load1", {}, points), 0, 60_000), 0, 60_000)
    reverse = export_line("node_load1", {}, points[::-1])
    two = rollup_bucket(parse_export(reverse, 0, 60_000), 0, 60_000)
    assert one.body == two.body


def test_queue_marks_every_tier_and_keeps_a_bucket_marked_again() -> None:
    queue = RollupQueue(statedb.connect(None), TIERS, settle_s=5, max_pending=100)
    queue.mark("h", 3_540_000, 3_660_000, now=10_000)  # 59:00 .. 61:00
    assert len(queue) == 3 + 2 + 2
    due = queue.due(10_005, 100)
    assert [(p.tier, p.bucket_ms) for p in due][:3] == [
        ("1m", 3_540_000),
        ("1m", 3_600_000),
        ("1m", 3_660_000),
    ]
    queue.mark("h", 3_540_000, 3_540_000, now=10_010)  # late data while computing
    queue.done(due)
    assert [(p.tier, p.bucket_ms) for p in queue.due(10_020, 100)] == [
        ("1m", 3_540_000),
        ("5m", 3_300_000),
        ("1h", 0),
    ]
    with pytest.raises(QueueFull):
        RollupQueue(statedb.connect(None), TIERS, settle_s=0, max_pending=2).mark("h", 0, 0, 1)


def test_series_budget() -> None:
    budget = SeriesBudget(max_series=2, ttl_s=10)
    a, b, c = (series_key("m", {"i": str(i)}) for i in range(3))
    budget.admit("x", "h", [a, b], now=0)
    with pytest.raises(PolicyError, match="3 series in use; the limit is 2"):
        budget.admit("x", "h", [c], now=5)
    budget.admit("y", "h", [c], now=5)  # another agent has its own budget
    budget.admit("x", "h", [b], now=8)
    budget.admit("x", "h", [c], now=12)  # a expired
    assert budget.in_use("x", "h") == 2
