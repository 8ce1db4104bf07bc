"""The private stack an experiment runs against, all on free loopback ports under one
temporary directory: a raw VictoriaMetrics and one per rollup tier, a collector, the
fault-injecting proxy in front of it, and agents that push through the proxy.

Every store runs as deployed: the raw tier deduplicates at 1 ms, each rollup tier at its
resolution, so a duplicate counted is one that a query would see. Every tier keeps
100 years, so backdated samples (a spool emptied after an outage) are never dropped.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from hostvitals.agent.config import SamplersConfig
from hostvitals.chaos.procs import Child, command, free_port, http_ok, shielded, wait_until
from hostvitals.chaos.proxy import FaultProxy

START_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class StackShape:
    interval_s: int = 1
    agents: int = 1
    tiers: tuple[tuple[str, int], ...] = (("1m", 60), ("5m", 300), ("1h", 3600))
    spool_fs_bytes: int = 0  # > 0: each agent's state dir is a tmpfs of this size


@dataclass
class Store:
    name: str
    resolution_s: int  # 0 for the raw tier
    data_dir: Path
    port: int = field(default_factory=free_port)
    child: Child | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        # as deployed: the raw tier deduplicates at 1 ms, each rollup tier at its resolution
        dedup = f"{self.resolution_s}s" if self.resolution_s else "1ms"
        self.child = Child(
            [
                command("victoria-metrics"),
                f"-storageDataPath={self.data_dir}",
                f"-httpListenAddr=127.0.0.1:{self.port}",
                "-retentionPeriod=100y",
                "-search.latencyOffset=0s",
                "-search.cacheTimestampOffset=0s",
                "-loggerLevel=ERROR",
                f"-dedup.minScrapeInterval={dedup}",
            ],
            self.data_dir.parent / f"vm-{self.name}.log",
        )
        self.child.start()

    def wait_ready(self) -> None:
        try:
            wait_until(http_ok(f"{self.url}/health"), START_TIMEOUT_S, f"store {self.name}")
        except TimeoutError as exc:
            tail = self.child.log_tail() if self.child else ""
            raise RuntimeError(f"VictoriaMetrics {self.name} did not start:\n{tail}") from exc

    def export(self, match: str) -> list[dict[str, Any]]:
        """Every sample of the series matching ``match``, as stored, one dict per series."""
        requests.get(f"{self.url}/internal/force_flush", timeout=10).raise_for_status()
        response = requests.post(
            f"{self.url}/api/v1/export", data={"match[]": match, "start": "0"}, timeout=60
        )
        response.raise_for_status()
        return [json.loads(line) for line in response.text.splitlines() if line.strip()]


@dataclass
class Agent:
    host: str
    state_dir: Path
    child: Child


def agent_env(interval_s: int) -> dict[str, str]:
    """Only the load sampler (what is counted) and the agent's own metrics (spool, skipped
    ticks); short waits, since one host has no fleet to spread out."""
    off = {
        f"HOSTVITALS_AGENT_SAMPLERS__{f.name.upper()}__ENABLED": "false"
        for f in dataclasses.fields(SamplersConfig)
        if f.name not in ("load", "agent")
    }
    return {
        **off,
        "HOSTVITALS_AGENT_FLUSH_INTERVAL": str(interval_s),
        "HOSTVITALS_AGENT_OUTAGE_FLUSH_INTERVAL": str(interval_s),
        "HOSTVITALS_AGENT_CATCHUP_JITTER": "1",
        "HOSTVITALS_AGENT_RETRY_BACKOFF_MAX": "4",
        "HOSTVITALS_AGENT_REQUEST_TIMEOUT": "3",
        "HOSTVITALS_AGENT_SPOOL_MAX_BYTES": str(1 << 20),
    }


class Stack:
    """Start with :meth:`open` (a context manager): everything is stopped and removed on the
    way out, whatever ended the block."""

    def __init__(self, root: Path, shape: StackShape, run: str) -> None:
        self.root = root
        self.shape = shape
        self.run = run
        self.raw = Store("raw", 0, root / "raw" / "data")
        self.tiers = [Store(n, r, root / n / "data") for n, r in shape.tiers]
        self.collector_port = free_port()
        self.proxy = FaultProxy(free_port(), self.collector_port)
        self.collector: Child | None = None
        self.agents: list[Agent] = []
        self._mounts: list[Path] = []
        self._config = root / "collector.json"

    @classmethod
    @contextlib.contextmanager
    def open(cls, shape: StackShape, run: str) -> Iterator[Stack]:
        with tempfile.TemporaryDirectory(prefix="hostvitals-chaos-") as tmp:
            stack = cls(Path(tmp), shape, run)
            try:
                stack.start()
                yield stack
            finally:
                stack.close()

    @property
    def stores(self) -> list[Store]:
        return [self.raw, *self.tiers]

    @property
    def collector_url(self) -> str:
        return f"http://127.0.0.1:{self.collector_port}"

    def start(self) -> None:
        for store in self.stores:
            store.start()
        for store in self.stores:
            store.wait_ready()
        self._write_config()
        self.start_collector()
        self.proxy.start()
        for index in range(self.shape.agents):
            host = f"chaos-{self.run}-{index}"
            state = self.root / "agents" / host
            state.mkdir(parents=True)
            if self.shape.spool_fs_bytes:
                self._mount_tmpfs(state, self.shape.spool_fs_bytes)
            child = Child(
                [
                    command("hostvitals-agent"),
                    "--interval",
                    str(self.shape.interval_s),
                    "--collector-url",
                    f"http://127.0.0.1:{self.proxy.port}",
                    "--state-dir",
                    str(state),
                    "--host",
                    host,
                ],
                self.root / "logs" / f"agent-{host}.log",
                env=agent_env(self.shape.interval_s),
            )
            self.agents.append(Agent(host, state, child))
            child.start()

    def _write_config(self) -> None:
        config = {
            "victoriametrics": {"url": self.raw.url},
            "state": {"dir": str(self.root / "collector-state")},
            "tiers": {
                "raw_retention_days": 36_500,
                "rollups": [
                    {
                        "name": s.name,
                        "url": s.url,
                        "resolution_s": s.resolution_s,
                        "retention_days": 36_500,
                    }
                    for s in self.tiers
                ],
                "settle_s": 1,
                "rollup_interval_s": 1,
            },
        }
        self._config.write_text(json.dumps(config))

    def start_collector(self) -> None:
        self.collector = Child(
            [
                command("hostvitals-collector"),
                "--config",
                str(self._config),
                "--port",
                str(self.collector_port),
            ],
            self.root / "logs" / "collector.log",
        )
        self.collector.start()
        try:
            health = http_ok(f"{self.collector_url}/api/v1/health")
            wait_until(health, START_TIMEOUT_S, "collector health")
        except TimeoutError as exc:
            raise RuntimeError(f"collector did not start:\n{self.collector.log_tail()}") from exc

    def restart_agent(self, agent: Agent) -> None:
        agent.child.start()

    def _mount_tmpfs(self, path: Path, size: int) -> None:
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)],
            check=True,
            capture_output=True,
        )
        self._mounts.append(path)

    def close(self) -> None:
        with shielded():  # a stop signal must not cut the cleanup short
            self._close()

    def _close(self) -> None:
        for agent in self.agents:
            agent.child.stop()
        self.proxy.stop()
        if self.collector is not None:
            self.collector.stop()
        for store in self.stores:
            if store.child is not None:
                store.child.signal(signal.SIGCONT)
                store.child.stop()
        for path in reversed(self._mounts):
            subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)
