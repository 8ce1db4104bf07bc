"""A lane's round in flight: its outcome is kept until the sender has seen it."""

from __future__ import annotations

import asyncio

import pytest

from hostvitals.agent.backoff import RoundFailed
from hostvitals.agent.config import DeliveryConfig
from hostvitals.agent.lanes import Lane, Pending
from hostvitals.agent.spool import RecordId


def pending() -> Pending:
    return Pending(RecordId(0, 0), b"frame", 3)


async def test_a_round_that_ended_just_as_its_wait_was_cancelled_is_still_finished() -> None:
    """The stop cancels the fresh loop in the instant the collector's 204 came back: the
    round is over, but the loop never saw it. The drain must learn that the frame went,
    or it sends it again."""
    lane = Lane("fresh", DeliveryConfig())
    item = pending()
    answered = asyncio.Event()

    async def round_() -> None:
        answered.set()  # the collector took the frame; the round returns next

    waiter = asyncio.create_task(lane.send(item, round_()))
    await answered.wait()  # the round is done; the waiter has not resumed yet
    await asyncio.sleep(0)
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    assert waiter.cancelled()
    assert await lane.finish(1.0) == (item, True)
    assert await lane.finish(1.0) is None  # the outcome is taken once
    await lane.close()


async def test_a_round_the_sender_saw_end_is_not_reported_again() -> None:
    lane = Lane("fresh", DeliveryConfig())
    item = pending()

    async def round_() -> None:
        return None

    await lane.send(item, round_())
    assert await lane.finish(1.0) is None
    await lane.close()


async def test_a_failed_round_the_sender_was_cut_off_from_reads_as_not_taken() -> None:
    lane = Lane("fresh", DeliveryConfig())
    item = pending()
    failing = asyncio.Event()

    async def round_() -> None:
        failing.set()
        raise RoundFailed("server")

    waiter = asyncio.create_task(lane.send(item, round_()))
    await failing.wait()
    await asyncio.sleep(0)
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    assert await lane.finish(1.0) == (item, False)
    await lane.close()


async def test_a_round_still_on_the_wire_is_waited_for() -> None:
    lane = Lane("fresh", DeliveryConfig())
    item = pending()
    release = asyncio.Event()

    async def round_() -> None:
        await release.wait()

    waiter = asyncio.create_task(lane.send(item, round_()))
    await asyncio.sleep(0.01)
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    asyncio.get_running_loop().call_later(0.05, release.set)
    assert await lane.finish(1.0) == (item, True)
    await lane.close()


@pytest.mark.parametrize("timeout_s", [0.0, 0.05])
async def test_a_round_that_does_not_end_in_time_reads_as_not_taken(timeout_s: float) -> None:
    lane = Lane("fresh", DeliveryConfig())
    item = pending()

    async def round_() -> None:
        await asyncio.sleep(30)

    waiter = asyncio.create_task(lane.send(item, round_()))
    await asyncio.sleep(0.01)
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    assert await lane.finish(timeout_s) == (item, False)
    await lane.close()
