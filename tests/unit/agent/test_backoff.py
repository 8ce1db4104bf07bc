"""Retry waits: exponential backoff with full jitter, capped, or what Retry-After says."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from hostvitals.agent.backoff import MIN_RETRY_AFTER_S, Backoff, RoundFailed


async def attempts(backoff: Backoff, failures: Sequence[Exception]) -> list[float]:
    """The waits between attempts while ``failures`` are raised one by one."""
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    pending = list(failures)
    async for attempt in backoff.retrying(sleep):
        with attempt:
            if pending:
                raise pending.pop(0)
    return waits


async def test_waits_grow_with_full_jitter_up_to_the_cap() -> None:
    backoff = Backoff(1.0, 8.0, 600.0)
    waits = await attempts(backoff, [RoundFailed("server") for _ in range(30)])
    assert len(waits) == 30
    for n, wait in enumerate(waits):
        assert 0.0 <= wait <= min(8.0, 2.0**n)
    assert max(waits) > 2.0  # it does grow


async def test_retry_after_is_honoured_within_bounds() -> None:
    backoff = Backoff(1.0, 8.0, 600.0)
    failures = [
        RoundFailed("throttled", 7.0),
        RoundFailed("throttled", 0.0),
        RoundFailed("throttled", 10_000.0),
    ]
    assert await attempts(backoff, failures) == [7.0, MIN_RETRY_AFTER_S, 600.0]


async def test_a_new_cap_applies_from_the_next_failure() -> None:
    backoff = Backoff(1.0, 1000.0, 600.0)
    backoff.reconfigure(2.0)
    waits = await attempts(backoff, [RoundFailed("server") for _ in range(20)])
    assert max(waits) <= 2.0


async def test_other_errors_are_not_retried() -> None:
    with pytest.raises(KeyError):
        await attempts(Backoff(1.0, 8.0, 600.0), [KeyError("a bug")])
