"""Bounded answers of current values: hosts in name order, as many series as a page holds.

``GET /api/v1/metrics/current`` answers every series of every host it names; one host with
many series, or a large fleet, would make that answer as large as the live view. A page holds
at most ``limit`` series: hosts are taken in name order after ``after`` while their series
fit, the first host of a page is always taken (cut to ``limit`` when it alone holds more, and
then marked), and when hosts are left over the page names the last host it holds, to ask for
the next page with ``after``.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

from hostvitals.collector.live.current import HostSnapshot


@dataclass(frozen=True, slots=True)
class Page:
    hosts: list[tuple[HostSnapshot, int]]
    """Each host with the most series to show of it."""
    next_after: str | None
    """The last host of this page when more follow; None when the page ends the list."""


def series_count(snap: HostSnapshot) -> int:
    """The series an answer shows for ``snap``: its series and two per top process."""
    processes = len(snap.processes.processes) if snap.processes is not None else 0
    return len(snap.series) + 2 * processes


def page_of(snaps: Sequence[HostSnapshot], limit: int, after: str | None = None) -> Page:
    """The page of ``snaps`` (sorted by name) after host ``after`` holding ``limit`` series."""
    start = 0 if after is None else bisect_right([s.host for s in snaps], after)
    taken: list[tuple[HostSnapshot, int]] = []
    left = limit
    for snap in snaps[start:]:
        count = series_count(snap)
        if taken and count > left:
            return Page(taken, taken[-1][0].host)
        shown = min(count, left)
        taken.append((snap, shown))
        left -= shown
    return Page(taken, None)
