"""URL failover: in which order a round tries the collector URLs.

A round starts with the URL that worked last, then tries the others in configured order.
While a later URL is in use, the first one is tried first again every ``recheck_s`` seconds
(counted from the last time it failed, or the last time another one answered), and used as
soon as it answers.
"""

from __future__ import annotations

from collections.abc import Callable


class Failover:
    """Which of ``count`` URLs (indexes, in order of preference) to try, and in what order."""

    def __init__(self, count: int, recheck_s: float, clock: Callable[[], float]) -> None:
        if count < 1:
            raise ValueError("at least one URL is needed")
        self._count = count
        self._recheck_s = recheck_s
        self._clock = clock
        self._active = 0
        self._primary_due = 0.0

    @property
    def active(self) -> int:
        """The URL that answered last (the first one until another answered)."""
        return self._active

    def order(self) -> list[int]:
        """URL indexes to try this round: the active one first (or the first one when it is
        due for a recheck), then the rest in configured order.
        """
        first = self._active
        if first != 0 and self._clock() >= self._primary_due:
            first = 0
        return [first, *(i for i in range(self._count) if i != first)]

    def answered(self, index: int) -> bool:
        """URL ``index`` took a frame; True if that is a switch from the one in use."""
        switched = index != self._active
        self._active = index
        if index != 0:
            self._primary_due = self._clock() + self._recheck_s
        return switched

    def failed(self, index: int) -> None:
        """URL ``index`` did not take a frame."""
        if index == 0 and self._active != 0:
            self._primary_due = self._clock() + self._recheck_s
