"""Lost and duplicated samples as the chaos runner counts them, from what a store returns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hostvitals.chaos.accounting import Window, complete_buckets, raw_count, rollup_count
from hostvitals.chaos.stack import Store

HOST = "h"


class FakeStore(Store):
    def __init__(self, docs: list[dict[str, Any]], resolution_s: int = 0) -> None:
        super().__init__("fake", resolution_s, Path("/nonexistent"), port=1)
        self.docs = docs

    def export(self, match: str) -> list[dict[str, Any]]:
        return self.docs


def series(name: str, stamps: list[int], values: list[float] | None = None) -> dict[str, Any]:
    return {
        "metric": {"__name__": name, "host": HOST},
        "timestamps": stamps,
        "values": values if values is not None else [1.0] * len(stamps),
    }


def loads(stamps: list[int]) -> list[dict[str, Any]]:
    return [series(n, stamps) for n in ("node_load1", "node_load5", "node_load15")]


def window(ticks: range, skipped: int = 0) -> Window:
    return Window(HOST, frozenset(ticks), skipped)


def test_every_tick_once_is_nothing_lost_nothing_duplicated() -> None:
    count = raw_count(
        FakeStore(loads(list(range(0, 10_000, 1000)))), window(range(0, 10_000, 1000))
    )
    assert (count.expected, count.lost, count.duplicated) == (30, 0, 0)


def test_a_missing_tick_is_lost_in_every_series_and_a_repeated_one_duplicated() -> None:
    stamps = [0, 1000, 1000, 3000]
    count = raw_count(FakeStore(loads(stamps)), window(range(0, 4000, 1000)))
    assert (count.expected, count.lost, count.duplicated) == (12, 3, 3)


def test_ticks_the_agent_skipped_are_neither_expected_nor_lost() -> None:
    count = raw_count(FakeStore(loads([0, 1000, 3000])), window(range(0, 4000, 1000), skipped=1))
    assert (count.expected, count.lost) == (9, 0)


def test_samples_outside_the_window_do_not_count() -> None:
    count = raw_count(FakeStore(loads([-1000, 0, 1000, 5000])), window(range(0, 2000, 1000)))
    assert (count.expected, count.lost, count.duplicated) == (6, 0, 0)


def test_only_buckets_wholly_inside_the_window_are_expected() -> None:
    # ticks 1 s .. 9 s, 4 s buckets: [0, 4) starts before the window, [8, 12) ends after it
    assert complete_buckets(window(range(1000, 10_000, 1000)), 4000, 1000) == {4000: 4}


def test_a_rollup_count_short_of_the_ticks_is_lost_and_over_is_duplicated() -> None:
    raw = {n: set(range(0, 8000, 1000)) for n in ("node_load1", "node_load5", "node_load15")}
    # bucket 0: revisions 3 then 4 (the latest wins); bucket 4000: counted 3 of 4
    docs = [
        series("node_load1:count", [3, 4, 4003], [3.0, 4.0, 3.0]),
        series("node_load5:count", [4, 4004], [4.0, 4.0]),
        series("node_load15:count", [4, 4005], [4.0, 5.0]),
    ]
    tier = FakeStore(docs, resolution_s=4)
    count = rollup_count(tier, window(range(0, 8000, 1000)), 1000, raw)
    assert (count.expected, count.lost, count.duplicated) == (24, 1, 1)


def test_a_bucket_missing_from_a_rollup_tier_loses_all_its_ticks() -> None:
    raw = {n: set(range(0, 8000, 1000)) for n in ("node_load1", "node_load5", "node_load15")}
    docs = [series(f"{n}:count", [4], [4.0]) for n in ("node_load1", "node_load5", "node_load15")]
    count = rollup_count(FakeStore(docs, resolution_s=4), window(range(0, 8000, 1000)), 1000, raw)
    assert (count.expected, count.lost, count.duplicated) == (24, 12, 0)
