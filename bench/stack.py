"""The full local stack for a benchmark, as ``deploy/local/run.sh`` starts it.

One VictoriaMetrics for the raw tier and one per rollup tier, with the retention and
``-dedup.minScrapeInterval`` of ``config/config.yaml``'s tiers and of run.sh (and nothing
a test setup adds), a collector on the shipped configuration (alerts and SLOs evaluating, the
rollup job running) pointed at them, and an agent reporting at 1 s. :func:`backfill` gives a
host 24 h of history in every tier: raw samples every 10 s in the raw tier, and the rollups
the collector's own rollup code computes from them in each rollup tier.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import requests
from common import REPO, console_script

from hostvitals.collector.rollups.rollup import SUFFIXES, aggregate, figures, revision_ts
from hostvitals.shared.catalogue import CATALOGUE, Kind
from tests.support.processes import ManagedProcess, free_port, http_ok, wait_until

DAY_S = 86_400
BACKFILL_INTERVAL_S = 10
RAW = ("raw", 0, "1d", "1ms")
# name, resolution (s), retention, dedup: config/config.yaml's tiers, as run.sh starts them.
ROLLUP_TIERS = (("1m", 60, "7d", "60s"), ("5m", 300, "30d", "300s"), ("1h", 3600, "365d", "3600s"))
RETENTION_DAYS = {"7d": 7, "30d": 30, "365d": 365}
LABEL_SETS: dict[tuple[str, ...], list[dict[str, str]]] = {
    ("cpu", "mode"): [
        {"cpu": str(c), "mode": m}
        for c in range(2)
        for m in ("user", "system", "idle", "iowait", "nice", "irq", "softirq", "steal")
    ],
    ("device",): [{"device": "sda"}, {"device": "eth0"}],
    ("device", "fstype", "mountpoint"): [
        {"device": "/dev/sda1", "fstype": "ext4", "mountpoint": "/"}
    ],
}


@dataclass
class Tier:
    name: str
    resolution_s: int
    process: ManagedProcess
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Stack:
    """The processes of one run; :meth:`stop` stops them, newest first."""

    root: Path
    tiers: list[Tier] = field(default_factory=list)  # raw first
    procs: list[ManagedProcess] = field(default_factory=list)
    collector_url: str = ""

    @property
    def raw(self) -> Tier:
        return self.tiers[0]

    def start_victoria_metrics(self) -> None:
        binary = shutil.which("victoria-metrics")
        if binary is None:
            raise SystemExit("victoria-metrics is missing; `make deps` installs it")
        for name, resolution, retention, dedup in (RAW, *ROLLUP_TIERS):
            port = free_port()
            proc = ManagedProcess(
                [
                    binary,
                    f"-storageDataPath={self.root / f'vm-{name}'}",
                    f"-httpListenAddr=127.0.0.1:{port}",
                    f"-retentionPeriod={retention}",
                    f"-dedup.minScrapeInterval={dedup}",
                    "-loggerLevel=ERROR",
                ],
                self.root / f"vm-{name}.log",
            )
            proc.start()
            self.procs.append(proc)
            tier = Tier(name, resolution, proc, port)
            wait_until(http_ok(f"{tier.url}/health"), 30, f"VictoriaMetrics ({name})")
            self.tiers.append(tier)

    def start_collector(self, extra_env: dict[str, str]) -> None:
        port = free_port()
        rollups = [
            {
                "name": t.name,
                "url": t.url,
                "resolution_s": t.resolution_s,
                "retention_days": RETENTION_DAYS[retention],
            }
            for t, (_, _, retention, _) in zip(self.tiers[1:], ROLLUP_TIERS, strict=True)
        ]
        collector = ManagedProcess(
            [
                console_script("hostvitals-collector"),
                f"--config={REPO / 'config' / 'config.yaml'}",
                f"--port={port}",
            ],
            self.root / "collector.log",
            env={
                "HOSTVITALS__VICTORIAMETRICS__URL": self.raw.url,
                "HOSTVITALS__STATE__DIR": str(self.root / "collector"),
                "HOSTVITALS__TIERS__ROLLUPS": orjson.dumps(rollups).decode(),
                "HOSTVITALS__ALERTS__EXTERNAL_URL": f"http://127.0.0.1:{port}",
                **extra_env,
            },
        )
        collector.start()
        self.procs.append(collector)
        self.collector_url = f"http://127.0.0.1:{port}"
        wait_until(http_ok(f"{self.collector_url}/api/v1/health"), 30, "collector")

    def start_agent(self, host: str) -> None:
        agent = ManagedProcess(
            [
                console_script("hostvitals-agent"),
                "--interval=1",
                f"--collector-url={self.collector_url}",
                f"--state-dir={self.root / 'agent'}",
                f"--host={host}",
            ],
            self.root / "agent.log",
        )
        agent.start()
        self.procs.append(agent)

    def collector_pid(self) -> int:
        return next(p.pid for p in self.procs if "hostvitals-collector" in p.argv[0])

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()


def backfill(stack: Stack, host: str, end_s: int) -> int:
    """24 h of ``host``'s catalogue series up to ``end_s``: raw samples every 10 s into the
    raw tier, and their rollups into each rollup tier. Returns the raw samples written."""
    timestamps, series = _backfill_series(host, end_s)
    _import(stack.raw.url, [_line(metric, values, timestamps) for metric, _, values in series])
    for tier in stack.tiers[1:]:
        _import(tier.url, list(_rollup_lines(series, timestamps, tier.resolution_s * 1000)))
    return len(series) * len(timestamps)


def backfill_raw(url: str, host: str, end_s: int) -> int:
    """The raw part of :func:`backfill` into the VictoriaMetrics at ``url`` alone."""
    timestamps, series = _backfill_series(host, end_s)
    _import(url, [_line(metric, values, timestamps) for metric, _, values in series])
    return len(series) * len(timestamps)


def _backfill_series(
    host: str, end_s: int
) -> tuple[list[int], list[tuple[dict[str, str], Kind, list[float]]]]:
    start_s = end_s - DAY_S + 300  # inside the raw tier's 1 d retention
    timestamps = list(range(start_s * 1000, end_s * 1000, BACKFILL_INTERVAL_S * 1000))
    return timestamps, list(_series(host, len(timestamps)))


def _line(metric: dict[str, str], values: list[float], timestamps: list[int]) -> bytes:
    return orjson.dumps({"metric": metric, "values": values, "timestamps": timestamps})


def _import(url: str, lines: list[bytes]) -> None:
    answer = requests.post(f"{url}/api/v1/import", data=b"\n".join(lines), timeout=300)
    answer.raise_for_status()
    requests.get(f"{url}/internal/force_flush", timeout=60).raise_for_status()


def _series(host: str, count: int) -> Iterator[tuple[dict[str, str], Kind, list[float]]]:
    for spec in CATALOGUE.values():
        if spec.group in ("processes", "agent"):
            continue
        for labels in LABEL_SETS.get(spec.labels, [{}]) if spec.labels else [{}]:
            metric = {"__name__": spec.name, "host": host, **labels}
            yield metric, spec.kind, _values(spec.name, spec.kind, labels, count)


def _rollup_lines(
    series: list[tuple[dict[str, str], Kind, list[float]]], timestamps: list[int], width_ms: int
) -> Iterator[bytes]:
    """Each series' rollups, one import line per rollup name, as the rollup job writes them."""
    for metric, kind, values in series:
        buckets: dict[int, dict[int, float]] = {}
        for ts, value in zip(timestamps, values, strict=True):
            buckets.setdefault(ts // width_ms * width_ms, {})[ts] = value
        columns: list[tuple[list[int], list[float]]] = [([], []) for _ in SUFFIXES[kind]]
        for bucket, samples in sorted(buckets.items()):
            agg = aggregate(kind, samples)
            ts = revision_ts(bucket, width_ms, agg.count)
            for (stamps, out), value in zip(columns, figures(agg), strict=True):
                stamps.append(ts)
                out.append(value)
        for suffix, (stamps, out) in zip(SUFFIXES[kind], columns, strict=True):
            name = {**metric, "__name__": metric["__name__"] + suffix}
            yield orjson.dumps({"metric": name, "values": out, "timestamps": stamps})


def _values(name: str, kind: Kind, labels: dict[str, str], count: int) -> list[float]:
    """A daily wave, so the backfilled charts look like a host's day."""
    wave = [0.5 + 0.5 * math.sin(2 * math.pi * i / count * 3) for i in range(count)]
    if kind is Kind.COUNTER:
        # Idle grows slower at the top of the wave: usage swings between about 10 and 60 %.
        rates = [(8.0 - 7.0 * w) if labels.get("mode") == "idle" else 1.0 for w in wave]
        total, out = 0.0, []
        for rate in rates:
            total += rate * BACKFILL_INTERVAL_S
            out.append(total)
        return out
    gib = 2.0**30
    base = {
        "node_memory_MemTotal_bytes": (8 * gib, 0.0),
        "node_memory_MemAvailable_bytes": (5 * gib, -2 * gib),
        "node_memory_SwapTotal_bytes": (2 * gib, 0.0),
        "node_memory_SwapFree_bytes": (2 * gib, -0.2 * gib),
        "node_filesystem_size_bytes": (100 * gib, 0.0),
        "node_filesystem_free_bytes": (60 * gib, -5 * gib),
        "node_filesystem_avail_bytes": (55 * gib, -5 * gib),
    }.get(name, (0.5, 1.5) if name.startswith("node_load") else (gib, 0.1 * gib))
    return [base[0] + base[1] * w for w in wave]
