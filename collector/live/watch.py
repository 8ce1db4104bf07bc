"""Who is looking at which host right now, and which hosts were asked to flush every tick.

A request that shows a host live (``current?host=``, its processes, its live stream, each
event the stream sends) marks that host watched; a request that shows every host (the fleet
page, the fleet stream) marks the whole fleet watched. A mark lasts ``ttl_s`` after its last
signal, so a dashboard that polls or streams keeps it alive and a closed tab lets it lapse.

The ingest answer to a watched host asks its agent to flush every tick (see
``hostvitals.collector.ingest.flushadvice``): a **grant**. Grants are bounded by
``max_fast_hosts``, because frames of one tick cost the collector far more per sample than
frames of ten. A host watched by itself wins a grant from one that is only part of a watched
fleet. A grant lasts ``lease_s`` after the last answer that asked (the time an agent keeps
following such an answer), and ends at once when an answer stops asking.

Bounded: at most ``max_watched`` host marks are kept; a signal past that is dropped and
counted. Every refusal to grant is counted by reason. All methods are thread-safe.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge

from hostvitals.shared.protocol import FLUSH_HINT_VALID_S

MAX_WATCHED: Final = 10_000
REFUSALS: Final = ("budget", "breaker", "write_queue", "busy")


class WatchRegistry:
    def __init__(
        self,
        *,
        ttl_s: float = 10.0,
        max_fast_hosts: int = 100,
        lease_s: float = FLUSH_HINT_VALID_S,
        max_watched: int = MAX_WATCHED,
        clock: Callable[[], float] = time.monotonic,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self._ttl = ttl_s
        self._max_fast = max_fast_hosts
        self._lease = lease_s
        self._max_watched = max_watched
        self._clock = clock
        self._lock = threading.Lock()
        self._hosts: dict[str, float] = {}  # host -> when its mark lapses
        self._fleet_until = float("-inf")
        self._grants: dict[str, float] = {}  # host -> when its grant lapses
        self._next_sweep = 0.0
        self.dropped = Counter(
            "hostvitals_collector_watch_dropped",
            f"Signals that a host is being looked at, dropped because {max_watched} hosts "
            "were marked already.",
            registry=registry,
        )
        self.refused = Counter(
            "hostvitals_collector_fast_flush_refused",
            "Ingest answers to a watched host that did not ask it to flush every tick, by "
            "reason: budget (live.watch_max_hosts hosts flush fast already), breaker (writes "
            "to VictoriaMetrics are refused), write_queue (the write queue is filling up), "
            "busy (the event loop runs late: the collector is short of CPU).",
            ["reason"],
            registry=registry,
        )
        for reason in REFUSALS:
            self.refused.labels(reason)
        Gauge(
            "hostvitals_collector_watched_hosts",
            "Hosts someone is looking at by themselves (a host page, its stream, its current "
            "values).",
            registry=registry,
        ).set_function(lambda: self.counts()[0])
        Gauge(
            "hostvitals_collector_fleet_watched",
            "1 while someone is looking at the whole fleet (the fleet page or its stream).",
            registry=registry,
        ).set_function(lambda: float(self.fleet_watched()))
        Gauge(
            "hostvitals_collector_fast_flush_hosts",
            "Hosts asked to flush every tick now (at most live.watch_max_hosts).",
            registry=registry,
        ).set_function(lambda: self.counts()[1])

    # -- signals --------------------------------------------------------------------------

    def host(self, name: str) -> None:
        """Someone is looking at host ``name``."""
        now = self._clock()
        with self._lock:
            if name not in self._hosts and len(self._hosts) >= self._max_watched:
                self._sweep(now, force=True)
                if len(self._hosts) >= self._max_watched:
                    self.dropped.inc()
                    return
            self._hosts[name] = now + self._ttl

    def fleet(self) -> None:
        """Someone is looking at every host."""
        with self._lock:
            self._fleet_until = self._clock() + self._ttl

    # -- reading --------------------------------------------------------------------------

    def watched(self, name: str) -> bool:
        """Whether host ``name`` is being looked at, by itself or as part of the fleet."""
        now = self._clock()
        with self._lock:
            return self._fleet_until > now or self._hosts.get(name, now) > now

    def fleet_watched(self) -> bool:
        return self._fleet_until > self._clock()

    def fast(self, name: str) -> bool:
        """Whether host ``name`` holds a grant (its agent may be flushing every tick)."""
        return self._grants.get(name, float("-inf")) > self._clock()

    def counts(self) -> tuple[int, int]:
        """Hosts watched by themselves, and hosts holding a grant, now."""
        now = self._clock()
        with self._lock:
            self._sweep(now, force=True)
            return len(self._hosts), len(self._grants)

    # -- grants ---------------------------------------------------------------------------

    def grant(self, name: str, overload: str | None = None) -> bool:
        """Whether the answer to a frame of host ``name`` asks it to flush every tick.

        ``overload`` names why the collector has no headroom now (one of ``REFUSALS``), or
        is None. Not watched: no, and any grant it held ends (not a refusal). Watched but
        overloaded or over the budget: no, counted by reason.
        """
        now = self._clock()
        with self._lock:
            self._sweep(now)
            alone = self._hosts.get(name, now) > now
            if not alone and self._fleet_until <= now:
                self._grants.pop(name, None)
                return False
            if overload is not None:
                self._grants.pop(name, None)
                self.refused.labels(overload).inc()
                return False
            if name not in self._grants and len(self._grants) >= self._max_fast:
                self._expire_grants(now)
                if len(self._grants) >= self._max_fast and not (alone and self._yield_one(now)):
                    self.refused.labels("budget").inc()
                    return False
            self._grants[name] = now + self._lease
            return True

    def _yield_one(self, now: float) -> bool:
        """End the grant of one host that is watched only as part of the fleet."""
        for held in self._grants:
            if self._hosts.get(held, now) <= now:
                del self._grants[held]
                return True
        return False

    # -- bounds ---------------------------------------------------------------------------

    def _sweep(self, now: float, *, force: bool = False) -> None:
        if not force and now < self._next_sweep:
            return
        self._next_sweep = now + self._ttl
        for name in [n for n, until in self._hosts.items() if until <= now]:
            del self._hosts[name]
        self._expire_grants(now)

    def _expire_grants(self, now: float) -> None:
        for name in [n for n, until in self._grants.items() if until <= now]:
            del self._grants[name]
