"""Growth during a fault: the resident memory of the collector and the agents, and the
collector's write queue, sampled twice a second from a thread."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import psutil
import requests

from hostvitals.chaos.stack import Stack

STEP_S = 0.5
STALENESS_STEP_S = 0.2
QUEUE_METRIC = "hostvitals_collector_write_queue_bytes"


@dataclass
class Peaks:
    baseline_collector_rss: int = 0
    baseline_agent_rss: int = 0
    collector_rss: int = 0
    agent_rss: int = 0
    write_queue_bytes: float = 0.0
    staleness_s: float = 0.0  # the longest the raw tier's newest tick lagged behind
    newest_ms: int = 0

    def growth_mb(self) -> tuple[float, float]:
        mib = 1 << 20
        return (
            max(0, self.collector_rss - self.baseline_collector_rss) / mib,
            max(0, self.agent_rss - self.baseline_agent_rss) / mib,
        )


def _rss(pid: int) -> int:
    try:
        return int(psutil.Process(pid).memory_info().rss)
    except psutil.Error:
        return 0


@dataclass
class Monitor:
    stack: Stack
    peaks: Peaks = field(default_factory=Peaks)
    faulted: bool = False
    _stop: threading.Event = field(default_factory=threading.Event)

    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        # staleness on its own thread, so a hung collector does not slow its sampling
        for target, name in ((self._loop, "chaos-monitor"), (self._watch, "chaos-staleness")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> Peaks:
        self._stop.set()
        for thread in self._threads:
            thread.join(10)
        return self.peaks

    def _loop(self) -> None:
        while not self._stop.wait(STEP_S):
            self.sample()

    def _watch(self) -> None:
        p = self.peaks
        while not self._stop.wait(STALENESS_STEP_S):
            if self.stack.agents:
                p.newest_ms = max(p.newest_ms, self._newest(self.stack.agents[0].host))
            if self.faulted and p.newest_ms:
                p.staleness_s = max(p.staleness_s, time.time() - p.newest_ms / 1000)

    def sample(self) -> None:
        collector = self.stack.collector
        agent = self.stack.agents[0].child if self.stack.agents else None
        c_rss = _rss(collector.pid) if collector is not None and collector.running() else 0
        a_rss = _rss(agent.pid) if agent is not None and agent.running() else 0
        p = self.peaks
        if not self.faulted:
            p.baseline_collector_rss = max(p.baseline_collector_rss, c_rss)
            p.baseline_agent_rss = max(p.baseline_agent_rss, a_rss)
            return
        p.collector_rss = max(p.collector_rss, c_rss)
        p.agent_rss = max(p.agent_rss, a_rss)
        p.write_queue_bytes = max(p.write_queue_bytes, self._queue_bytes())

    def _newest(self, host: str) -> int:
        """The raw tier's newest node_load1 tick of ``host`` (0 if it does not answer)."""
        try:
            response = requests.get(
                f"{self.stack.raw.url}/api/v1/query",
                params={"query": f'timestamp(node_load1{{host="{host}"}})'},
                timeout=0.2,
            )
            result = response.json()["data"]["result"]
        except (requests.RequestException, ValueError, KeyError):
            return 0
        return int(float(result[0]["value"][1]) * 1000) if result else 0

    def _queue_bytes(self) -> float:
        try:
            text = requests.get(f"{self.stack.collector_url}/metrics", timeout=0.5).text
        except requests.RequestException:
            return 0.0
        for line in text.splitlines():
            if line.startswith(QUEUE_METRIC + " "):
                return float(line.split()[1])
        return 0.0
