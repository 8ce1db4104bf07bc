"""Encoded answers of range queries, shared by every client that asks the same thing.

A dashboard open on many screens, or a Grafana panel on a wall, asks the same range query
again and again; every answer costs VictoriaMetrics the query and the collector the decoding,
reshaping and encoding. Here an answer is kept for ``ttl_s`` seconds under its key (the
endpoint and its normalised parameters), and concurrent identical misses wait for the one
computation in flight instead of each starting their own.

An answer older than ``ttl_s`` but younger than twice that is still served at once while
one request computes its successor in the background (stale while revalidate): the screens
that keep asking never all wait for a recomputation together. Older answers are not served.
So the newest samples reach a cached answer at most ``2 * ttl_s`` late (VictoriaMetrics itself
hides the last ``-search.latencyOffset``, 30 s by default, from range queries).

Only successful answers are kept. The cache is bounded by the bytes of the answers it holds
(least recently used first out); an answer larger than an eighth of the budget is served but
not kept, so one huge query cannot empty the cache for everyone else. ``ttl_s`` of 0 turns the
cache off.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass

from cachetools import LRUCache
from prometheus_client import CollectorRegistry, Counter, Gauge

ENTRY_OVERHEAD_BYTES = 256
"""What an entry costs besides its body: key, tuple and bookkeeping, roughly."""


@dataclass(frozen=True, slots=True)
class Answer:
    """An HTTP answer as sent: status, body and media type."""

    status: int
    body: bytes
    media_type: str = "application/json"


@dataclass(frozen=True, slots=True)
class _Kept:
    made_at: float
    answer: Answer


def _retrieve(task: asyncio.Task[Answer]) -> None:
    """Mark a failure as seen: when every waiter went away, nobody else will look at it."""
    if not task.cancelled():
        task.exception()


def _size(answer: Answer) -> int:
    return len(answer.body) + ENTRY_OVERHEAD_BYTES


def _kept_size(kept: _Kept) -> int:
    return _size(kept.answer)


class QueryCache:
    """Short-lived answers by key, with single flight for concurrent misses."""

    def __init__(
        self,
        ttl_s: float,
        max_bytes: int,
        registry: CollectorRegistry | None = None,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl_s < 0:
            raise ValueError(f"ttl must not be negative, not {ttl_s!r}")
        if max_bytes < 1:
            raise ValueError(f"the byte budget must be at least 1, not {max_bytes!r}")
        self.ttl_s = ttl_s
        self.max_bytes = max_bytes
        self._timer = timer
        self._entries: LRUCache[Hashable, _Kept] = LRUCache(maxsize=max_bytes, getsizeof=_kept_size)
        self._inflight: dict[Hashable, asyncio.Task[Answer]] = {}
        self.hits = Counter(
            "hostvitals_collector_query_cache_hits_total",
            "Range answers served from the query cache (fresh, or stale while a successor is "
            "computed), or from an identical query in flight.",
            registry=registry,
        )
        self.misses = Counter(
            "hostvitals_collector_query_cache_misses_total",
            "Range answers computed (cache off, bypassed with nocache=1, expired or new).",
            registry=registry,
        )
        self.refreshes = Counter(
            "hostvitals_collector_query_cache_refreshes_total",
            "Answers computed in the background while their stale predecessor was served.",
            registry=registry,
        )
        self.bytes = Gauge(
            "hostvitals_collector_query_cache_bytes",
            "Bytes of answers held by the query cache (bodies plus a fixed overhead each).",
            registry=registry,
        )
        self.bytes.set_function(lambda: float(self._entries.currsize))

    @property
    def enabled(self) -> bool:
        return self.ttl_s > 0

    def __len__(self) -> int:
        return len(self._entries)

    async def get(
        self, key: Hashable, compute: Callable[[], Awaitable[Answer]], *, bypass: bool = False
    ) -> Answer:
        """The answer under ``key``, computing it with ``compute()`` when none is kept.

        With ``bypass`` (or the cache off) the answer is always computed and not kept.
        An exception from ``compute`` reaches every caller waiting for that computation.
        """
        if bypass or not self.enabled:
            self.misses.inc()
            return await compute()
        kept = self._entries.get(key)
        if kept is not None:
            age = self._timer() - kept.made_at
            if age < self.ttl_s:
                self.hits.inc()
                return kept.answer
            if age < 2 * self.ttl_s:
                self.hits.inc()
                if key not in self._inflight:  # one request refreshes it for everyone
                    self.refreshes.inc()
                    self._start(key, compute)
                return kept.answer
            del self._entries[key]
        task = self._inflight.get(key)
        if task is None:
            self.misses.inc()
            task = self._start(key, compute)
        else:
            self.hits.inc()
        return await asyncio.shield(task)

    def _start(
        self, key: Hashable, compute: Callable[[], Awaitable[Answer]]
    ) -> asyncio.Task[Answer]:
        # A task of its own: a caller that goes away cancels its wait, not the answer the
        # others wait for (or the refresh nobody waits for).
        task = asyncio.ensure_future(self._compute(key, compute))
        task.add_done_callback(_retrieve)
        self._inflight[key] = task
        return task

    async def _compute(self, key: Hashable, compute: Callable[[], Awaitable[Answer]]) -> Answer:
        try:
            answer = await compute()
        finally:
            del self._inflight[key]
        self._keep(key, answer)
        return answer

    def _keep(self, key: Hashable, answer: Answer) -> None:
        if answer.status != 200 or _size(answer) > self.max_bytes // 8:
            return
        self._entries[key] = _Kept(self._timer(), answer)

    def clear(self) -> None:
        self._entries.clear()
