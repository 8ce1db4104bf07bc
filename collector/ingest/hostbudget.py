"""Series budgets per host and for the whole fleet, whichever agent ids send the frames.

A series is a metric name and its label set, counted for the host the frame names. Each host
may have at most ``per_host`` distinct series in use and all hosts together ``total``; a series
not seen for ``ttl_s`` stops counting, and a host none of whose series is in use is forgotten.
A frame that would go past either budget is refused as a whole (nothing of it counts or is
written) with a message naming the limit; frames carrying only series already counted keep
flowing, so an agent that rotates its id, or a second agent claiming the host, cannot add
series past the host's budget, and a host beyond the fleet's budget cannot crowd out the
others.

Memory: one dictionary entry (the series' hash and a shared timestamp) per counted series, so
at most ``total`` entries. Expiring walks a host's series at most once per ``ttl_s / 10``, and
the whole fleet's at most once per ``ttl_s / 10`` when the fleet is full.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

from hostvitals.collector.ingest.validate import PolicyError
from hostvitals.shared.protocol import SeriesKey

HOST_REASON = "too_many_series_for_host"
FLEET_REASON = "too_many_series_in_fleet"


@dataclass(slots=True)
class _Host:
    series: dict[int, float] = field(default_factory=dict)  # hash of the key -> last seen
    last_seen: float = 0.0
    next_expiry: float = 0.0


class HostSeriesBudget:
    def __init__(self, per_host: int, total: int, ttl_s: float) -> None:
        self._per_host = per_host
        self._total_max = total
        self._ttl = ttl_s
        self._every = max(1.0, ttl_s / 10)
        self._hosts: dict[str, _Host] = {}
        self._total = 0
        self._lock = threading.Lock()
        self._next_sweep = 0.0
        self._next_fleet_expiry = 0.0

    def in_use(self, host: str) -> int:
        with self._lock:
            state = self._hosts.get(host)
            return 0 if state is None else len(state.series)

    def total(self) -> int:
        """Series counted for every host together (some may have expired since the last
        walk over them)."""
        return self._total

    def hosts(self) -> int:
        return len(self._hosts)

    def admit(self, agent_id: str, host: str, keys: Iterable[SeriesKey], now: float) -> None:
        """Count ``keys`` as in use by ``host`` (sent by ``agent_id``), or raise PolicyError
        if that would take the host or the fleet past its budget."""
        hashes = [hash(key) for key in keys]
        with self._lock:
            if now >= self._next_sweep:
                self._forget_hosts(now)
            state = self._hosts.get(host)
            known = state.series if state is not None else {}
            new = sum(1 for h in hashes if h not in known)
            over = new and len(known) + new > self._per_host
            if over and state is not None and self._expire(state, now):
                new = sum(1 for h in hashes if h not in known)
            if new and len(known) + new > self._per_host:
                raise PolicyError(
                    HOST_REASON,
                    f"host {host!r} (agent {agent_id!r}) would have {len(known) + new} series "
                    f"in use; the limit is {self._per_host} (limits.max_series_per_host, "
                    f"whichever agent sends them; series unused for {self._ttl:g}s stop "
                    "counting)",
                )
            if new and self._total + new > self._total_max and now >= self._next_fleet_expiry:
                self._next_fleet_expiry = now + self._every
                for other in self._hosts.values():
                    self._expire(other, now, force=True)
                new = sum(1 for h in hashes if h not in known)
            if new and self._total + new > self._total_max:
                who = "a host not seen yet" if state is None else "host"
                raise PolicyError(
                    FLEET_REASON,
                    f"{who} {host!r} would take the fleet to {self._total + new} series in "
                    f"use; the limit is {self._total_max} (limits.max_series_total; series "
                    f"unused for {self._ttl:g}s stop counting)",
                )
            if state is None:
                state = self._hosts[host] = _Host(next_expiry=now + self._every)
                known = state.series
            state.last_seen = now
            self._total += new
            for h in hashes:
                known[h] = now

    def _expire(self, state: _Host, now: float, *, force: bool = False) -> bool:
        """Drop the host's series unused for the TTL, at most once per tenth of it unless
        ``force``; whether any went."""
        if not force and now < state.next_expiry:
            return False
        state.next_expiry = now + self._every
        cutoff = now - self._ttl
        stale = [h for h, seen in state.series.items() if seen < cutoff]
        for h in stale:
            del state.series[h]
        self._total -= len(stale)
        return bool(stale)

    def _forget_hosts(self, now: float) -> None:
        """Forget the hosts not heard from for the TTL: none of their series is in use."""
        self._next_sweep = now + min(60.0, self._every)
        cutoff = now - self._ttl
        for name in [n for n, h in self._hosts.items() if h.last_seen < cutoff]:
            self._total -= len(self._hosts.pop(name).series)
