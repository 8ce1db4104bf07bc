"""A hand-driven clock for code that takes ``clock``/``timer`` as a callable."""

from __future__ import annotations


class ManualClock:
    """Returns ``now``; a test moves time by changing it."""

    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
