"""Per-agent series budget: one host cannot add series to the database without bound.

Each (agent, host) may have at most ``max_series`` distinct series in use, a series being a
metric name and its label set; a series not seen for ``ttl_s`` stops counting. A frame that
would take an agent past its budget is refused as a whole (nothing of it is written), with a
message naming the budget. Memory is bounded by agents x ``max_series`` identities, and
agents not heard from for ``ttl_s`` are forgotten.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from hostvitals.collector.ingest.validate import PolicyError
from hostvitals.shared.protocol import SeriesKey, interned


@dataclass(slots=True)
class _Agent:
    series: dict[SeriesKey, float] = field(default_factory=dict)
    last_seen: float = 0.0


class SeriesBudget:
    def __init__(self, max_series: int, ttl_s: float) -> None:
        self._max = max_series
        self._ttl = ttl_s
        self._agents: dict[tuple[str, str], _Agent] = {}
        self._lock = threading.Lock()
        self._next_sweep = 0.0

    def in_use(self, agent_id: str, host: str) -> int:
        with self._lock:
            agent = self._agents.get((agent_id, host))
            return 0 if agent is None else len(agent.series)

    def admit(self, agent_id: str, host: str, keys: Sequence[SeriesKey], now: float) -> None:
        """Count ``keys`` as in use by the agent, or raise PolicyError if over budget."""
        with self._lock:
            self._sweep(now)
            agent = self._agents.get((agent_id, host))
            if agent is None:
                agent = self._agents[(agent_id, host)] = _Agent()
            agent.last_seen = now
            known = agent.series
            new = [k for k in keys if k not in known]
            if new and len(known) + len(new) > self._max:
                self._expire(agent, now)
                if len(known) + len(new) > self._max:
                    raise PolicyError(
                        "too_many_series_for_agent",
                        f"agent {agent_id!r} on host {host!r} would have "
                        f"{len(known) + len(new)} series in use; the limit is {self._max} "
                        f"(series unused for {self._ttl:g}s stop counting)",
                    )
            for key in new:  # kept for long: one copy of each metric name and label value
                known[interned(key)] = now
            for key in keys:
                known[key] = now

    def _expire(self, agent: _Agent, now: float) -> None:
        cutoff = now - self._ttl
        for key in [k for k, seen in agent.series.items() if seen < cutoff]:
            del agent.series[key]

    def _sweep(self, now: float) -> None:
        if now < self._next_sweep:
            return
        self._next_sweep = now + min(60.0, self._ttl)
        cutoff = now - self._ttl
        for key in [k for k, a in self._agents.items() if a.last_seen < cutoff]:
            del self._agents[key]
