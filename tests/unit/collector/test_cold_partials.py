"""The cold path's pure parts and its partial store: exact merging, the horizon split, the
persisted partials and their eviction, and the accepted window."""

from __future__ import annotations

import random
import sqlite3
from fractions import Fraction

import pytest

from hostvitals.collector.config.loader import ConfigError, load_settings
from hostvitals.collector.config.settings import Settings
from hostvitals.collector.rollups.coldpath import accepted_limits, parse_rollups, series_id, split
from hostvitals.collector.rollups.partials import PartialStore
from hostvitals.collector.rollups.rollup import (
    Aggregate,
    aggregate,
    figures,
    import_body,
    merge,
    rollup_documents,
)
from hostvitals.shared.catalogue import Kind
from tests.support.frames import catalogue_frame


def samples(seed: int, n: int = 200) -> dict[int, float]:
    rng = random.Random(seed)
    return {1000 * i: rng.uniform(-1e6, 1e6) * 10 ** rng.randint(-8, 8) for i in range(n)}


@pytest.mark.parametrize("kind", [Kind.GAUGE, Kind.COUNTER])
def test_merged_pieces_in_any_order_give_the_figures_of_one_pass(kind: Kind) -> None:
    every = samples(1)
    whole = figures(aggregate(kind, every))
    ticks = list(every)
    rng = random.Random(2)
    for _ in range(20):
        cuts = sorted(rng.sample(range(1, len(ticks)), 6))
        parts = [ticks[a:b] for a, b in zip([0, *cuts], [*cuts, len(ticks)], strict=True)]
        rng.shuffle(parts)
        acc: Aggregate | None = None
        for part in parts:
            piece = aggregate(kind, {t: every[t] for t in part}, exact=True)
            acc = piece if acc is None else merge(acc, piece)
        assert acc is not None
        assert figures(acc) == whole  # bit for bit, as the rollup job computes it


def test_split_cuts_the_frame_at_the_horizon() -> None:
    frame = catalogue_frame("h", [10, 20, 30, 40], metrics=("node_load1",))
    part = split(frame, 25)
    assert part.hot is not None and part.since_ms == 25
    assert part.hot.timestamps_ms == [30, 40]
    assert [len(s.values) for s in part.hot.series] == [2]
    assert split(frame, 5).hot is frame
    assert split(frame, 41).hot is None


def test_rollups_read_back_from_a_tier_rebuild_the_aggregates() -> None:
    width = 60_000
    labels = {"__name__": "node_load1", "host": "h"}
    gauge = aggregate(Kind.GAUGE, {60_001: 1.5, 60_002: 2.5, 60_003: 8.0})
    counter = aggregate(Kind.COUNTER, {60_001: 7.0, 60_009: 8.0})
    clabels = {"__name__": "hostvitals_swap_in_bytes_total", "host": "h"}
    body = import_body(
        rollup_documents(labels, gauge, 60_000, width)
        + rollup_documents(clabels, counter, 60_000, width)
        # an older, smaller revision of the same gauge bucket is ignored
        + rollup_documents(labels, aggregate(Kind.GAUGE, {60_001: 100.0}), 60_000, width)
    )
    got = parse_rollups(body, "1m", "h", width)
    g = got[("1m", "h", series_id(labels), 60_000)]
    assert (g.count, g.total, g.low, g.high) == (3, Fraction(12), 1.5, 8.0)
    c = got[("1m", "h", series_id(clabels), 60_000)]
    assert (c.count, c.last) == (2, 8.0)
    assert c.last_ms < 60_000  # any merged sample is newer


def store() -> PartialStore:
    return PartialStore(sqlite3.connect(":memory:", isolation_level=None))


def test_the_store_keeps_exact_sums_and_rolls_back_on_failure() -> None:
    s = store()
    agg = aggregate(Kind.GAUGE, samples(3), exact=True)
    key = ("1m", "h", "[]", 60_000)
    with s.transaction():
        s.save({key: agg}, now=10.0)
        s.record_frame("a", "h", 1, 60_500, now=10.0)
    assert s.load([key]) == {key: agg}
    assert s.applied("a", "h", 1) and not s.applied("a", "h", 2)
    with pytest.raises(RuntimeError), s.transaction():
        s.save({("1m", "h", "[]", 120_000): agg}, now=11.0)
        s.record_frame("a", "h", 2, 120_500, now=11.0)
        raise RuntimeError("tier write failed")
    assert len(s) == 1 and not s.applied("a", "h", 2)


def test_eviction_complete_idle_and_overflow() -> None:
    s = store()
    agg = aggregate(Kind.GAUGE, {1: 1.0})
    widths = {"1m": 60_000}
    with s.transaction():
        # host a moved past its first two buckets; host b did not
        s.save({("1m", "a", "[]", 0): agg, ("1m", "a", "[]", 60_000): agg}, now=100.0)
        s.save({("1m", "a", "[]", 120_000): agg, ("1m", "b", "[]", 0): agg}, now=100.0)
        s.record_frame("x", "a", 1, 120_000, now=100.0)
        s.record_frame("y", "b", 1, 59_000, now=100.0)
    kw = {"grace_s": 50.0, "idle_s": 1000.0, "max_rows": 10}
    assert s.evict(120.0, widths, **kw) == {"complete": 0, "idle": 0, "overflow": 0}
    assert s.evict(150.0, widths, **kw) == {"complete": 2, "idle": 0, "overflow": 0}
    assert s.load([("1m", "b", "[]", 0)])  # its host has not moved past it
    assert s.evict(150.0, widths, **{**kw, "max_rows": 1}) == {
        "complete": 0,
        "idle": 0,
        "overflow": 1,
    }
    assert s.evict(1100.0, widths, **kw) == {"complete": 0, "idle": 1, "overflow": 0}
    assert len(s) == 0 and not s.applied("x", "a", 1)


def test_the_accepted_window_reaches_the_coarsest_tier_or_stops_at_the_raw_horizon() -> None:
    assert Settings().limits.max_sample_age_s == 7 * 86_400 + 3600
    assert accepted_limits(Settings()).max_sample_age_s == 7 * 86_400 + 3600
    no_tiers = Settings.model_validate({"tiers": {"rollups": []}})
    assert accepted_limits(no_tiers).max_sample_age_s == 86_400 - 3600
    with pytest.raises(ConfigError, match="coarsest tier's retention"):
        load_settings(None, {}, {"limits.max_sample_age_s": 365 * 86_400})
    with pytest.raises(ConfigError, match="cold_margin_s"):
        load_settings(None, {}, {"tiers.cold_margin_s": 86_400})
