"""Remember recently written frames so a frame sent again is acknowledged, not written twice.

``(agent, seq)`` names a frame. An agent resends a frame whose acknowledgement it did not get
(a crash, a lost answer); the collector answers 204 without writing it again. The host is part
of the key too, so two machines cloned with the same agent id do not swallow each other's
frames. Memory is bounded: at most ``per_agent`` sequence numbers per (agent, host), and
agents not heard from for ``ttl_s`` are forgotten.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field


@dataclass(slots=True)
class _AgentFrames:
    seen: set[int] = field(default_factory=set)
    order: deque[int] = field(default_factory=deque)
    last_seen: float = 0.0


class RecentFrames:
    def __init__(self, per_agent: int, ttl_s: float) -> None:
        self._per_agent = per_agent
        self._ttl = ttl_s
        self._agents: dict[tuple[str, str], _AgentFrames] = {}
        self._lock = threading.Lock()
        self._next_sweep = 0.0

    def __len__(self) -> int:
        return len(self._agents)

    def seen(self, agent_id: str, host: str, seq: int) -> bool:
        with self._lock:
            agent = self._agents.get((agent_id, host))
            return agent is not None and seq in agent.seen

    def remember(self, agent_id: str, host: str, seq: int, now: float) -> None:
        if self._per_agent == 0:
            return
        with self._lock:
            self._sweep(now)
            key = (agent_id, host)
            agent = self._agents.get(key)
            if agent is None:
                agent = self._agents[key] = _AgentFrames()
            agent.last_seen = now
            if seq in agent.seen:
                return
            agent.seen.add(seq)
            agent.order.append(seq)
            while len(agent.order) > self._per_agent:
                agent.seen.discard(agent.order.popleft())

    def _sweep(self, now: float) -> None:
        if now < self._next_sweep:
            return
        self._next_sweep = now + min(60.0, self._ttl)
        cutoff = now - self._ttl
        for key in [k for k, st in self._agents.items() if st.last_seen < cutoff]:
            del self._agents[key]
