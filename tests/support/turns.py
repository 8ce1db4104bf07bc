"""Counting the event loop's turns: how a test shows that sliced work let others run."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class Turns:
    """The turns another task got so far, one per pass through the loop."""

    def __init__(self) -> None:
        self.count = 0

    async def _count(self) -> None:
        while True:
            self.count += 1
            await asyncio.sleep(0)


@contextlib.asynccontextmanager
async def counting_turns() -> AsyncIterator[Turns]:
    """A task counting its turns runs for the block (and has had its first turn)."""
    turns = Turns()
    task = asyncio.create_task(turns._count())
    await asyncio.sleep(0)
    try:
        yield turns
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
