"""Turns for queries: at most ``per_client`` running at once for one client, and ``total``
for everyone, so one client hammering heavy queries holds a bounded share of
VictoriaMetrics' search slots and the others keep theirs.

A query waits for its turn up to ``queue_timeout_s`` in all; then :class:`QueryRefused`
says whether its client's share was taken (``client``: answered 429) or every slot was
(``busy``: answered 503). Each refusal is counted by reason. Runs on the event loop.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final, Literal

from prometheus_client import CollectorRegistry, Counter, Gauge

REASONS: Final = ("client", "busy")


class QueryRefused(Exception):
    """No turn within the queue timeout; ``reason`` is ``client`` or ``busy``."""

    def __init__(self, reason: Literal["client", "busy"], message: str) -> None:
        super().__init__(message)
        self.reason = reason


class _Share:
    __slots__ = ("semaphore", "users")

    def __init__(self, per_client: int) -> None:
        self.semaphore = asyncio.Semaphore(per_client)
        self.users = 0  # running or waiting


class QueryGate:
    def __init__(
        self,
        per_client: int,
        total: int,
        queue_timeout_s: float,
        registry: CollectorRegistry | None = None,
    ) -> None:
        if per_client < 1 or total < 1:
            raise ValueError("per_client and total must be at least 1")
        self.per_client = per_client
        self.total = total
        self.queue_timeout_s = queue_timeout_s
        self._shares: dict[str, _Share] = {}
        self._slots: asyncio.Semaphore | None = None  # made on the loop that uses it
        self.refused = Counter(
            "hostvitals_collector_query_refused",
            "Queries refused because they found no turn within query.queue_timeout_s, by "
            "reason (client: that client's query.max_concurrent_per_client were running; "
            "busy: query.max_concurrent were).",
            ("reason",),
            registry=registry,
        )
        for reason in REASONS:
            self.refused.labels(reason)
        self.waiting = Gauge(
            "hostvitals_collector_queries_waiting",
            "Queries waiting for their turn now.",
            registry=registry,
        )

    @asynccontextmanager
    async def turn(self, client: str) -> AsyncIterator[None]:
        """Hold a turn of ``client`` while the block runs; raises QueryRefused."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.total)
        slots = self._slots
        share = self._shares.get(client)
        if share is None:
            share = self._shares[client] = _Share(self.per_client)
        share.users += 1
        deadline = time.monotonic() + self.queue_timeout_s
        try:
            await self._wait(share.semaphore, deadline, "client")
            try:
                await self._wait(slots, deadline, "busy")
                try:
                    yield
                finally:
                    slots.release()
            finally:
                share.semaphore.release()
        finally:
            share.users -= 1
            if share.users == 0:
                del self._shares[client]

    async def _wait(
        self, semaphore: asyncio.Semaphore, deadline: float, reason: Literal["client", "busy"]
    ) -> None:
        if not semaphore.locked():
            await semaphore.acquire()
            return
        self.waiting.inc()
        try:
            async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                await semaphore.acquire()
        except TimeoutError:
            self.refused.labels(reason).inc()
            if reason == "client":
                message = (
                    f"this client has {self.per_client} queries running "
                    "(query.max_concurrent_per_client); wait for them"
                )
            else:
                message = f"{self.total} queries are running (query.max_concurrent); retry"
            raise QueryRefused(reason, message) from None
        finally:
            self.waiting.dec()

    def __len__(self) -> int:
        """Clients with a query running or waiting."""
        return len(self._shares)
