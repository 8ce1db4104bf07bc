"""The query cache: expiry, byte budget, single flight, errors and cancellation."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry, Counter

from hostvitals.collector.query.cache import ENTRY_OVERHEAD_BYTES, Answer, QueryCache
from tests.support.clock import ManualClock


class Backend:
    """Counts computations; each answer says which computation made it."""

    def __init__(self, size: int = 10, status: int = 200) -> None:
        self.calls = 0
        self.size = size
        self.status = status
        self.release = asyncio.Event()
        self.release.set()

    async def compute(self) -> Answer:
        self.calls += 1
        call = self.calls
        await self.release.wait()
        return Answer(self.status, str(call).encode().ljust(self.size, b"."))


def cache(clock: ManualClock, ttl_s: float = 5.0, max_bytes: int = 1 << 20) -> QueryCache:
    return QueryCache(ttl_s, max_bytes, CollectorRegistry(), timer=clock)


def counts(c: QueryCache) -> tuple[float, float]:
    """(hits, misses) as the collector's /metrics reports them."""

    def total(counter: Counter) -> float:
        samples = [s for m in counter.collect() for s in m.samples]
        return next(s.value for s in samples if s.name.endswith("_total"))

    return total(c.hits), total(c.misses)


async def test_identical_query_within_ttl_is_served_once() -> None:
    clock, backend = ManualClock(), Backend()
    c = cache(clock)
    first = await c.get("k", backend.compute)
    clock.now += 4.9
    again = await c.get("k", backend.compute)
    assert again is first
    assert backend.calls == 1
    assert counts(c) == (1, 1)


async def test_a_stale_answer_is_served_while_its_successor_is_computed() -> None:
    clock, backend = ManualClock(), Backend()
    c = cache(clock)
    await c.get("k", backend.compute)
    backend.release.clear()
    clock.now += 5.01
    stale = await c.get("k", backend.compute)  # at once, without waiting for the backend
    assert stale.body.startswith(b"1")
    assert await c.get("k", backend.compute) is stale  # one refresh for everyone
    backend.release.set()
    for _ in range(5):
        await asyncio.sleep(0)
    assert backend.calls == 2
    assert (await c.get("k", backend.compute)).body.startswith(b"2")
    assert counts(c) == (3, 1)


async def test_an_answer_older_than_twice_the_ttl_is_not_served() -> None:
    clock, backend = ManualClock(), Backend()
    c = cache(clock)
    await c.get("k", backend.compute)
    clock.now += 10.01
    fresh = await c.get("k", backend.compute)
    assert fresh.body.startswith(b"2")
    assert backend.calls == 2


async def test_other_keys_are_other_answers() -> None:
    clock, backend = ManualClock(), Backend()
    c = cache(clock)
    a = await c.get(("q", 1), backend.compute)
    b = await c.get(("q", 2), backend.compute)
    assert a != b
    assert backend.calls == 2


async def test_bypass_and_ttl_zero_always_compute_and_keep_nothing() -> None:
    clock, backend = ManualClock(), Backend()
    c = cache(clock)
    await c.get("k", backend.compute, bypass=True)
    await c.get("k", backend.compute, bypass=True)
    assert (backend.calls, len(c)) == (2, 0)

    off = cache(clock, ttl_s=0)
    assert not off.enabled
    await off.get("k", backend.compute)
    await off.get("k", backend.compute)
    assert (backend.calls, len(off)) == (4, 0)


async def test_concurrent_misses_share_one_computation() -> None:
    clock, backend = ManualClock(), Backend()
    backend.release.clear()
    c = cache(clock)
    waiters = [asyncio.create_task(c.get("k", backend.compute)) for _ in range(50)]
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    backend.release.set()
    answers = await asyncio.gather(*waiters)
    assert backend.calls == 1
    assert all(a is answers[0] for a in answers)
    assert counts(c) == (49, 1)


async def test_a_caller_going_away_does_not_cancel_the_others() -> None:
    clock, backend = ManualClock(), Backend()
    backend.release.clear()
    c = cache(clock)
    first = asyncio.create_task(c.get("k", backend.compute))
    second = asyncio.create_task(c.get("k", backend.compute))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.sleep(0)
    backend.release.set()
    assert (await second).body.startswith(b"1")
    assert first.cancelled()
    # The answer the cancelled caller started is kept for the next one.
    await c.get("k", backend.compute)
    assert backend.calls == 1


async def test_an_error_reaches_every_waiter_and_is_not_kept() -> None:
    clock = ManualClock()
    c = cache(clock)
    gate = asyncio.Event()
    calls = 0

    async def failing() -> Answer:
        nonlocal calls
        calls += 1
        await gate.wait()
        raise RuntimeError("VictoriaMetrics is away")

    waiters = [asyncio.create_task(c.get("k", failing)) for _ in range(3)]
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    gate.set()
    results = await asyncio.gather(*waiters, return_exceptions=True)
    assert [str(r) for r in results] == ["VictoriaMetrics is away"] * 3
    assert calls == 1
    backend = Backend()
    assert (await c.get("k", backend.compute)).status == 200
    assert backend.calls == 1


async def test_only_successful_answers_are_kept() -> None:
    clock, backend = ManualClock(), Backend(status=400)
    c = cache(clock)
    await c.get("k", backend.compute)
    await c.get("k", backend.compute)
    assert backend.calls == 2


async def test_the_byte_budget_evicts_least_recently_used() -> None:
    clock = ManualClock()
    body = 1000
    entry = body + ENTRY_OVERHEAD_BYTES
    registry = CollectorRegistry()
    c = QueryCache(5.0, 8 * entry + 10, registry, timer=clock)
    backend = Backend(size=body)
    for key in range(8):
        await c.get(key, backend.compute)
    assert len(c) == 8
    await c.get(0, backend.compute)  # touch 0: 1 is now the least recently used
    await c.get(8, backend.compute)
    assert len(c) == 8
    assert registry.get_sample_value("hostvitals_collector_query_cache_bytes") == 8 * entry
    calls = backend.calls
    await c.get(0, backend.compute)
    assert backend.calls == calls
    await c.get(1, backend.compute)
    assert backend.calls == calls + 1


async def test_an_answer_over_an_eighth_of_the_budget_is_served_not_kept() -> None:
    clock = ManualClock()
    c = cache(clock, max_bytes=8000)
    backend = Backend(size=2000)
    answer = await c.get("big", backend.compute)
    assert len(answer.body) == 2000
    await c.get("big", backend.compute)
    assert (backend.calls, len(c)) == (2, 0)


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="negative"):
        QueryCache(-1, 100)
    with pytest.raises(ValueError, match="at least 1"):
        QueryCache(1, 0)
