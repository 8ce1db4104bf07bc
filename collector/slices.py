"""Work on a fleet's alerts or hosts a slice at a time, so that the event loop gets its turns.

A sliced computation is a generator that yields between slices: :func:`run_whole` runs it
to its end in one go (for callers off the loop, and tests), :func:`run_in_turns` gives the
loop a turn at every yield.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")


def slices(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """``items`` in consecutive runs of at most ``size``."""
    for first in range(0, len(items), size):
        yield items[first : first + size]


def run_whole(steps: Iterator[None]) -> None:
    for _ in steps:
        pass


async def run_in_turns(steps: Iterator[None]) -> None:
    for _ in steps:
        await asyncio.sleep(0)
