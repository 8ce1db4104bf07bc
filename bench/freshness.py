"""Freshness: how long a sample takes from being sampled to being visible, watched or not.

One run starts a VictoriaMetrics (with its shipped query flags: newest samples are hidden
for ``-search.latencyOffset``, 30 s by default), a collector with its default settings, and
two real agents with their default ``flush_interval`` (10 s): one sampling every 1 s, one
every 10 s. Then, for ``--phase`` seconds each:

- nobody watches: frames span flush_interval;
- watched: a client polls ``/api/v1/metrics/current?host=`` of both hosts once a second, as
  an open host page does, so the collector asks their agents to flush every tick.

Meanwhile a probe polls every ``--poll`` seconds the live view (``/api/v1/hosts``, which does
not count as watching) and VictoriaMetrics through the collector's Prometheus API
(``max by (host) (timestamp(node_load1))``). A tick is visible when the newest timestamp
reaches it; its latency is then minus its tick time. Ticks of the first ``--settle`` seconds
of a phase (the agents switching) are left out. Prints p50/p99/max per interval, phase and
path.

    .venv/bin/python bench/freshness.py [--phase 100] [--settle 15] [--poll 0.1]
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import requests
from common import console_script, print_table

from tests.support.processes import (
    ManagedProcess,
    VictoriaMetrics,
    free_port,
    http_ok,
    wait_until,
)

HOSTS = {"fresh-1s": 1, "fresh-10s": 10}
PATHS = ("live view", "VictoriaMetrics query")
VM_TAIL_S = 45.0
"""Polling goes on this long after the last phase, for VictoriaMetrics to show its ticks."""


@dataclass
class Visibility:
    """Per host and path: (poll time, newest tick seen) whenever the newest tick moved."""

    seen: dict[tuple[str, str], list[tuple[float, float]]] = field(default_factory=dict)

    def saw(self, host: str, path: str, now: float, newest: float) -> None:
        moves = self.seen.setdefault((host, path), [])
        if not moves or newest > moves[-1][1]:
            moves.append((now, newest))

    def latencies(self, host: str, path: str, ticks: list[float]) -> list[float]:
        """For each tick, when it was first seen minus its time (ticks never seen are left
        out and counted by the caller)."""
        moves = self.seen.get((host, path), [])
        newest = [m[1] for m in moves]
        out = []
        for tick in ticks:
            i = bisect.bisect_left(newest, tick)
            if i < len(moves):
                out.append(moves[i][0] - tick)
        return out


def probe(url: str, visible: Visibility, stop: threading.Event, poll_s: float) -> None:
    session = requests.Session()
    hosts = "|".join(HOSTS)
    query = f'max by (host) (timestamp(node_load1{{host=~"{hosts}"}}))'
    while not stop.is_set():
        started = time.time()
        try:
            rows = session.get(f"{url}/api/v1/hosts", timeout=5).json()["data"]
            now = time.time()
            for row in rows:
                visible.saw(row["host"], PATHS[0], now, float(row["timestamp"]))
            answer = session.get(f"{url}/api/v1/query", params={"query": query}, timeout=5)
            now = time.time()
            for item in answer.json()["data"]["result"]:
                visible.saw(item["metric"]["host"], PATHS[1], now, float(item["value"][1]))
        except (requests.RequestException, KeyError, ValueError):
            pass
        stop.wait(max(0.0, poll_s - (time.time() - started)))


def watcher(url: str, stop: threading.Event) -> None:
    """An open host page for each host: current values once a second."""
    session = requests.Session()
    while not stop.is_set():
        for host in HOSTS:
            with contextlib.suppress(requests.RequestException):
                session.get(f"{url}/api/v1/metrics/current", params={"host": host}, timeout=5)
        stop.wait(1.0)


def in_thread(target: Callable[..., None], *args: object) -> threading.Thread:
    thread = threading.Thread(target=target, args=args, daemon=True)
    thread.start()
    return thread


def summary(values: list[float]) -> tuple[str, str, str]:
    if not values:
        return ("-", "-", "-")
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return (f"{statistics.median(ordered):.2f}", f"{p99:.2f}", f"{ordered[-1]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phase", type=float, default=100.0, help="seconds per phase")
    parser.add_argument("--settle", type=float, default=15.0, help="seconds left out per phase")
    parser.add_argument("--poll", type=float, default=0.1, help="seconds between probes")
    args = parser.parse_args()

    visible = Visibility()
    phases: list[tuple[str, float, float]] = []
    with tempfile.TemporaryDirectory(prefix="hostvitals-bench-fresh-") as tmp:
        root = Path(tmp)
        # As shipped (deploy/compose.yaml): VictoriaMetrics' own query defaults.
        vm = VictoriaMetrics(
            data_dir=root / "vm",
            extra_args=("-dedup.minScrapeInterval=1ms", "-search.latencyOffset=30s"),
        )
        vm.start()
        procs: list[ManagedProcess] = []
        stop_probe, stop_watch = threading.Event(), threading.Event()
        try:
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            collector = ManagedProcess(
                [console_script("hostvitals-collector"), "--port", str(port)],
                root / "collector.log",
                env={
                    "HOSTVITALS__VICTORIAMETRICS__URL": vm.url,
                    "HOSTVITALS__SERVER__LOG_LEVEL": "warning",
                },
            )
            collector.start()
            procs.append(collector)
            wait_until(http_ok(f"{url}/api/v1/health"), 30, "collector")
            for host, interval in HOSTS.items():
                agent = ManagedProcess(
                    [
                        console_script("hostvitals-agent"),
                        *("--interval", str(interval), "--collector-url", url),
                        *("--state-dir", str(root / host), "--host", host),
                    ],
                    root / f"{host}.log",
                )
                agent.start()
                procs.append(agent)

            def reported() -> bool:
                rows = requests.get(f"{url}/api/v1/hosts", timeout=5).json()["data"]
                return {row["host"] for row in rows} >= set(HOSTS)

            wait_until(reported, 60, "both agents' first frames", step=0.5)
            in_thread(probe, url, visible, stop_probe, args.poll)
            for name in ("not watched", "watched"):
                if name == "watched":
                    in_thread(watcher, url, stop_watch)
                print(f"{name}: {args.phase:g} s...", flush=True)
                start = time.time()
                time.sleep(args.phase)
                phases.append((name, start + args.settle, time.time()))
            print(f"letting VictoriaMetrics show the last ticks ({VM_TAIL_S:g} s)...", flush=True)
            time.sleep(VM_TAIL_S)
            for proc in procs:
                if not proc.running():
                    raise SystemExit(f"{proc.argv[0]} exited:\n{proc.log_tail()}")
        finally:
            stop_probe.set()
            stop_watch.set()
            for proc in reversed(procs):
                proc.stop()
            vm.stop()

    rows = []
    for host, interval in HOSTS.items():
        for name, begin, end in phases:
            first = int(begin // interval + 1) * interval
            ticks = [float(t) for t in range(first, int(end), interval)]
            for path in PATHS:
                found = visible.latencies(host, path, ticks)
                missing = len(ticks) - len(found)
                rows.append(
                    (f"{interval} s", name, path, str(len(found)), str(missing), *summary(found))
                )
    print()
    print("sample-to-visible latency, seconds (flush_interval 10 s; VictoriaMetrics hides")
    print("the newest 30 s from queries: -search.latencyOffset, its default)")
    print_table(rows, ("interval", "phase", "path", "ticks", "unseen", "p50", "p99", "max"))
    print("target: watched at 1 s, the live view p99 <= 2 s")


if __name__ == "__main__":
    main()
