"""Which hosts stopped reporting: what the HostDown rule remembers of every host.

A host is down when no frame of it arrived for ``after_flushes`` of its flush periods. The
collector hears hosts only while it runs and accepts frames, so a host's silence is counted
from the later of its last frame and the moment the collector last began to listen: its start,
or the end of an outage in which it refused frames (the circuit breaker open in front of
VictoriaMetrics). A collector restart, or an outage the agents ride out with their spools,
pages for nobody; a host that then stays silent for a whole down period does get its alert.
While the collector cannot accept frames, HostDown is not evaluated at all: its alerts stay
as they were, and the rule shows why.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from hostvitals.collector.alerts.state import Sample
from hostvitals.collector.live.current import HostSnapshot


class NotListening(Exception):
    """HostDown cannot be evaluated: the collector is not accepting frames."""


@dataclass(slots=True)
class HostSeen:
    last_seen: float
    flush_period_s: float


class HostWatch:
    def __init__(self, ttl_s: float) -> None:
        self._ttl = ttl_s
        self.hosts: dict[str, HostSeen] = {}
        self.listening_since: float | None = None

    def listen(self, now: float, accepting: bool) -> None:
        """Record whether frames are accepted now; silence counts from when they are again."""
        if not accepting:
            self.listening_since = None
        elif self.listening_since is None:
            self.listening_since = now

    def down(
        self, hosts: Iterable[HostSnapshot], now: float, after_flushes: float
    ) -> list[Sample] | NotListening:
        """One sample per down host, valued with its seconds of silence."""
        for h in hosts:
            self.hosts[h.host] = HostSeen(h.last_seen, h.flush_period_s)
        for name in [n for n, s in self.hosts.items() if now - s.last_seen > self._ttl]:
            del self.hosts[name]
        since = self.listening_since
        if since is None:
            return NotListening("not evaluated: the collector is not accepting frames")
        return [
            Sample({"host": name}, round(now - seen.last_seen, 3))
            for name, seen in sorted(self.hosts.items())
            if now - max(seen.last_seen, since) > after_flushes * seen.flush_period_s
        ]

    def load(self, doc: Mapping[str, Any]) -> None:
        for name, seen in doc.items():
            self.hosts[str(name)] = HostSeen(float(seen[0]), float(seen[1]))

    def dump(self) -> dict[str, list[float]]:
        return {h: [s.last_seen, s.flush_period_s] for h, s in self.hosts.items()}
