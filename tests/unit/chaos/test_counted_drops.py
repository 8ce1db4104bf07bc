"""Ticks the agent counted as dropped (``spool-disk-full``): the runner allows exactly those."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from hostvitals.chaos.accounting import raw_count
from hostvitals.chaos.runner import Timeline
from hostvitals.chaos.stack import Stack, Store
from tests.unit.chaos.test_accounting import HOST, loads, series

DROPPED = "hostvitals_agent_dropped_samples_total"


class NamedStore(Store):
    """Answers a selector by its metric name (none: every series)."""

    def __init__(self, docs: list[dict[str, Any]]) -> None:
        super().__init__("fake", 0, Path("/nonexistent"), port=1)
        self.docs = docs

    def export(self, match: str) -> list[dict[str, Any]]:
        name = match.split("{", 1)[0]
        return [d for d in self.docs if not name or d["metric"]["__name__"] == name]


class FakeStack:
    def __init__(self, raw: Store) -> None:
        self.raw = raw


def stack(stamps: list[int], dropped: list[float]) -> Stack:
    counter = series(DROPPED, stamps, dropped)
    counter["metric"]["reason"] = "disk_full"
    # three load series and the counter: four samples a tick
    return cast(Stack, FakeStack(NamedStore([*loads(stamps), counter])))


def test_ticks_counted_as_disk_full_are_not_expected() -> None:
    stamps = [0, 1000, 4000, 5000]  # 2000 and 3000 dropped: 2 ticks of 4 samples
    s = stack(stamps, [0, 0, 8, 8])
    timeline = Timeline(1000, 0, ("disk_full",))
    assert timeline.dropped(s, HOST, 5000) == (2, 8, 4)
    window = timeline.window(s, HOST, 5000, killed=False)
    assert window.skipped == 2
    count = raw_count(s.raw, window)
    assert (count.expected, count.lost) == (12, 0)


def test_a_count_short_of_the_missing_ticks_leaves_them_lost() -> None:
    s = stack([0, 1000, 4000, 5000], [0, 0, 4, 4])  # one of the two missing ticks counted
    timeline = Timeline(1000, 0, ("disk_full",))
    count = raw_count(s.raw, timeline.window(s, HOST, 5000, killed=False))
    assert count.lost == 3  # the uncounted tick, in each of the three series


def test_experiments_that_allow_no_drops_ignore_the_counter() -> None:
    s = stack([0, 1000, 4000, 5000], [0, 0, 8, 8])
    timeline = Timeline(1000, 0)
    assert timeline.dropped(s, HOST, 5000) is None
    assert raw_count(s.raw, timeline.window(s, HOST, 5000, killed=False)).lost == 6
