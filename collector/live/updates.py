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

A ``fleet`` update (``{"hosts": [row, ...]}``, one row per host) also carries its change
against the update before it, encoded once as a ``fleet-delta`` event: ``{"changed": [row,
...], "removed": [host, ...]}``, the rows that differ and the hosts that left. A stream that
sent the update before sends the delta, any other (just connected, or one that missed a tick
because its reader was slow) the whole fleet, so a 300-host fleet costs each stream the rows
that changed, not the whole table every tick.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import orjson
from prometheus_client import CollectorRegistry, Counter

Compute = Callable[[float], Awaitable[tuple[str, Any]]]
"""Given the current time, the event's name and its data."""
Encode = Callable[[str, float, bytes], bytes]
"""Given the event's name, the time and the data as JSON, the event as sent."""
FLEET: Final = "fleet"
FLEET_DELTA: Final = "fleet-delta"


@dataclass(frozen=True, slots=True)
class Update:
    tick: int
    version: int
    """Grows whenever the data changed (never repeats, whatever the key)."""
    data: bytes
    """The data as JSON."""
    event: bytes
    """The event as sent, encoded once."""
    rows: Mapping[str, bytes] | None = None
    """A fleet update's rows as JSON, by host."""
    base: int | None = None
    """The version ``delta`` changes into this one."""
    delta: bytes | None = None
    """The ``fleet-delta`` event from ``base`` to this update, encoded once."""

    def event_after(self, sent: int) -> bytes:
        """The event for a stream whose last update sent was version ``sent``."""
        if self.delta is not None and self.base == sent:
            return self.delta
        return self.event


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
        rows = _fleet_rows(data) if name == FLEET else None
        if rows is None:
            payload = orjson.dumps(data)
        else:
            payload = b'{"hosts":[' + b",".join(rows.values()) + b"]}"
        event = self._encode(name, now, payload)
        if before is not None and before.data == payload:
            return Update(tick, before.version, payload, event, rows, before.base, before.delta)
        version = next(self._versions)
        if rows is None or before is None or before.rows is None:
            return Update(tick, version, payload, event, rows)
        delta = self._encode(FLEET_DELTA, now, _delta(before.rows, rows))
        return Update(tick, version, payload, event, rows, before.version, delta)

    def _remember(self, key: str | None, update: Update) -> None:
        if key not in self._done and len(self._done) >= self._max_keys:
            recent = update.tick - 2
            for old in [k for k, u in self._done.items() if u.tick < recent]:
                del self._done[old]
            if len(self._done) >= self._max_keys:
                return  # every key is in use: this one is computed again next time
        self._done[key] = update


def _fleet_rows(data: Any) -> dict[str, bytes] | None:
    """A fleet update's rows as JSON by host; None when it is not one row per named host."""
    hosts = data.get("hosts") if isinstance(data, dict) and len(data) == 1 else None
    if not isinstance(hosts, list):
        return None
    rows: dict[str, bytes] = {}
    for row in hosts:
        host = row.get("host") if isinstance(row, dict) else None
        if not isinstance(host, str) or host in rows:
            return None
        rows[host] = orjson.dumps(row)
    return rows


def _delta(before: Mapping[str, bytes], after: Mapping[str, bytes]) -> bytes:
    changed = [row for host, row in after.items() if before.get(host) != row]
    removed = [host for host in before if host not in after]
    return b'{"changed":[' + b",".join(changed) + b'],"removed":' + orjson.dumps(removed) + b"}"
