"""Live updates computed once per tick and key, shared by every stream that shows them.

A dashboard's live stream asks for its update (the fleet's, or one host's) every tick. The
first stream to ask in a tick computes it and encodes its event once; every other stream
asking for the same key in the same tick, or while the computation runs, gets those bytes.
What a stream costs is then sending them. A tick is ``interval_s`` of wall-clock time
(``floor(now / interval_s)``), so streams that wake at different moments within one tick share
one computation.

Each update carries a version that grows only when its data changed, so a stream sends an
event only on change by comparing two numbers. Bounded: at most ``max_keys`` keys are kept;
past that, keys not asked for in the last two ticks are forgotten.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from prometheus_client import CollectorRegistry, Counter

Compute = Callable[[float], Awaitable[tuple[str, Any]]]
"""Given the current time, the event's name and its data."""
Encode = Callable[[str, float, bytes], bytes]
"""Given the event's name, the time and the data as JSON, the event as sent."""


@dataclass(frozen=True, slots=True)
class Update:
    tick: int
    version: int
    """Grows whenever the data changed (never repeats, whatever the key)."""
    data: bytes
    """The data as JSON."""
    event: bytes
    """The event as sent, encoded once."""


class SharedUpdates:
    def __init__(
        self,
        interval_s: float,
        encode: Encode,
        *,
        max_keys: int = 10_000,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self._interval = interval_s
        self._encode = encode
        self._max_keys = max_keys
        self._done: dict[str | None, Update] = {}
        self._running: dict[str | None, asyncio.Future[Update]] = {}
        self._versions = itertools.count(1)
        self.computed = Counter(
            "hostvitals_collector_stream_updates_computed",
            "Live stream updates computed (once per tick and fleet or host, however many "
            "streams show it), by kind.",
            ["kind"],
            registry=registry,
        )
        for kind in ("fleet", "host"):
            self.computed.labels(kind)

    def tick(self, now: float) -> int:
        return int(now // self._interval)

    async def get(self, key: str | None, now: float, compute: Compute) -> Update:
        """The update of ``key`` (None: the fleet) for the tick of ``now``; ``compute`` runs
        only when no stream asked for it in this tick yet."""
        tick = self.tick(now)
        done = self._done.get(key)
        if done is not None and done.tick >= tick:
            return done
        running = self._running.get(key)
        if running is not None:
            return await asyncio.shield(running)
        future: asyncio.Future[Update] = asyncio.get_running_loop().create_future()
        self._running[key] = future
        try:
            update = await self._compute(key, now, tick, compute, done)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: the waiters, if any, get it too
            raise
        else:
            future.set_result(update)
            self._remember(key, update)
            return update
        finally:
            del self._running[key]

    async def _compute(
        self, key: str | None, now: float, tick: int, compute: Compute, before: Update | None
    ) -> Update:
        self.computed.labels("fleet" if key is None else "host").inc()
        name, data = await compute(now)
        payload = orjson.dumps(data)
        same = before is not None and before.data == payload
        version = before.version if before is not None and same else next(self._versions)
        return Update(tick, version, payload, self._encode(name, now, payload))

    def _remember(self, key: str | None, update: Update) -> None:
        if key not in self._done and len(self._done) >= self._max_keys:
            recent = update.tick - 2
            for old in [k for k, u in self._done.items() if u.tick < recent]:
                del self._done[old]
            if len(self._done) >= self._max_keys:
                return  # every key is in use: this one is computed again next time
        self._done[key] = update
