"""Ingest throughput: one collector process against a simulated fleet, side by side with vmagent.

A load generator (this process) simulates a fleet of agents (default 2,000 agents x 150
series, 10 one-second ticks per frame, the agent's default layout: columnar msgpack, zstd)
and posts frames at a fixed rate (default 200,000 samples/s) to one collector process
backed by a real VictoriaMetrics. It then sends the same samples, as import lines, to
Debian's ``vmagent`` (``/api/v1/import``, remote-writing to its own VictoriaMetrics) at the
same rate and concurrency. Each receiver gets two runs: first contact (one frame from every
agent, so every series is new to the receiver and to VictoriaMetrics, as when a fleet first
connects) and then the steady run (``--duration`` seconds of the same fleet's next frames,
as all day long). For each it prints the sustained samples/s acknowledged, p50/p99 latency
from sending a request to its answer, and the receiving process's CPU and RSS.

vmagent acknowledges once the samples are in its own queue; the collector only after
VictoriaMetrics accepted them (group commit), so the collector's latency includes a write.
Target: the collector sustains >= 200,000 samples/s with p99 < 100 ms on 2 cores.

Watchers: then the same fleet samples every second for ``--watch-duration`` seconds while
``--watched`` of its agents are watched (someone has their page open): those send a frame of
one tick every tick, as the collector asks them to, the others ten ticks every ten seconds.
Every agent ticks on the same second, its frame leaving within ``--tick-spread`` s. The run
with every agent flushing every tick shows what raising ``live.watch_max_hosts`` to the whole
fleet would cost. A last run adds what watching costs itself: a client polls
``/api/v1/fleet`` once a second like the fleet page, and the collector asks at most
``live.watch_max_hosts`` hosts to flush every tick (the "asked" column).
Printed per run: requests/s and samples/s acknowledged, p50/p99 from sending to the answer,
p99 from the tick to the answer, and the collector's CPU.

    .venv/bin/python bench/ingest.py [--rate 200000] [--duration 20] [--no-malloc-trim]
        [--watched 0,200,2000] [--watch-duration 15] [--no-watch]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import zstandard
from common import Meter, console_script, print_table
from fleetload import (
    Fleet,
    Result,
    Watched,
    fleet_at_one_second,
    measured,
    metered,
    one_second_fleet,
    percentile,
)

from hostvitals.collector.config.settings import LiveSettings
from hostvitals.collector.ingest.importlines import frame_to_import_lines
from hostvitals.shared.codec import encode_frame
from tests.support.processes import (
    ManagedProcess,
    VictoriaMetrics,
    free_port,
    http_ok,
    wait_until,
)


class Run(NamedTuple):
    """One receiver under load: its processes, where frame n goes and what it carries."""

    name: str
    receivers: list[ManagedProcess]
    url_for: Callable[[int], str]
    make_body: Callable[[int], tuple[bytes, dict[str, str]]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--agents", type=int, default=2000)
    parser.add_argument("--series", type=int, default=150)
    parser.add_argument("--rate", type=float, default=200_000, help="samples/s offered")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of the steady run")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--no-peer", action="store_true", help="skip the vmagent runs")
    parser.add_argument(
        "--collectors",
        type=int,
        default=1,
        help="collector replicas sharing the fleet (each agent sticks to one)",
    )
    parser.add_argument(
        "--no-malloc-trim",
        action="store_true",
        help="run the collector without MALLOC_TRIM_THRESHOLD_",
    )
    parser.add_argument(
        "--watched",
        default=None,
        help="comma-separated numbers of watched agents (default: 0, live.watch_max_hosts, all)",
    )
    parser.add_argument("--watch-duration", type=int, default=15, help="seconds per watched run")
    parser.add_argument("--tick-spread", type=float, default=0.2, help="seconds, see above")
    parser.add_argument("--no-watch", action="store_true", help="skip the watched runs")
    args = parser.parse_args()
    budget = LiveSettings().watch_max_hosts
    watched_runs = (
        [int(n) for n in args.watched.split(",")]
        if args.watched
        else [0, min(budget, args.agents), args.agents]
    )

    if args.collectors < 1:
        parser.error("--collectors must be at least 1")
    collector_name = "collector" if args.collectors == 1 else f"collector x{args.collectors}"
    fleet = Fleet(args.agents, args.series)
    zstd = zstandard.ZstdCompressor(level=3)
    # Frames are built ahead of time so the generator's own CPU does not limit the rate.
    # Each agent's first frame comes first: "first contact", when every series is new to the
    # receiver and to VictoriaMetrics (which registers a new series far more slowly than it
    # stores a sample). The steady run that follows is what a known fleet sends all day.
    first_contact = range(args.agents)
    steady = range(
        args.agents, args.agents + int(args.rate / fleet.samples_per_frame * args.duration)
    )
    count = steady.stop
    print(f"building {count} frames of {fleet.samples_per_frame} samples...", flush=True)
    frames = [fleet.frame(n) for n in range(count)]
    collector_bodies = [zstd.compress(encode_frame(f)) for f in frames]
    vmagent_bodies = [frame_to_import_lines(f).body for f in frames]
    # The generator's own garbage collector must not pause it mid-run (a pause would show as
    # latency of whatever was in flight): the prepared bodies are frozen out of collections.
    del frames
    gc.collect()
    gc.freeze()

    with tempfile.TemporaryDirectory(prefix="hostvitals-bench-ingest-") as tmp:
        root = Path(tmp)
        raw = VictoriaMetrics(data_dir=root / "vm", extra_args=("-dedup.minScrapeInterval=1ms",))
        peer_vm = VictoriaMetrics(
            data_dir=root / "vm-peer", extra_args=("-dedup.minScrapeInterval=1ms",)
        )
        procs: list[ManagedProcess] = []
        results: list[tuple[Result, Meter]] = []
        watched: list[tuple[Watched, Meter]] = []
        try:
            raw.start()
            peer_vm.start()
            ports = [free_port() for _ in range(args.collectors)]
            collectors = []
            for n, port in enumerate(ports):
                env = {
                    "HOSTVITALS__VICTORIAMETRICS__URL": raw.url,
                    "HOSTVITALS__STATE__DIR": str(root / f"collector-{n}"),
                    "HOSTVITALS__TIERS__ROLLUPS": "[]",
                    "HOSTVITALS__SERVER__LOG_LEVEL": "warning",
                    "HOSTVITALS__LIMITS__MAX_SERIES_PER_AGENT": str(max(10_000, args.series)),
                }
                if not args.no_malloc_trim:
                    env["MALLOC_TRIM_THRESHOLD_"] = "268435456"
                collector = ManagedProcess(
                    [console_script("hostvitals-collector"), "--port", str(port)],
                    root / f"collector-{n}.log",
                    env=env,
                )
                collector.start()
                procs.append(collector)
                collectors.append(collector)
            for port in ports:
                wait_until(http_ok(f"http://127.0.0.1:{port}/api/v1/health"), 30, "collector")
            ingest_urls = [f"http://127.0.0.1:{port}/api/v1/ingest" for port in ports]

            runs: list[Run] = []
            if not args.no_peer:
                agent_port = free_port()
                vmagent = ManagedProcess(
                    [
                        "vmagent",
                        f"-remoteWrite.url={peer_vm.url}/api/v1/write",
                        f"-remoteWrite.tmpDataPath={root / 'vmagent'}",
                        f"-httpListenAddr=127.0.0.1:{agent_port}",
                        "-loggerLevel=ERROR",
                    ],
                    root / "vmagent.log",
                )
                vmagent.start()
                procs.append(vmagent)
                wait_until(http_ok(f"http://127.0.0.1:{agent_port}/health"), 30, "vmagent")
                vmagent_url = f"http://127.0.0.1:{agent_port}/api/v1/import"
                runs.append(
                    Run(
                        "vmagent",
                        [vmagent],
                        lambda n: vmagent_url,
                        lambda n: (vmagent_bodies[n % count], {}),
                    )
                )

            collector_headers = {
                "Content-Type": "application/x-msgpack",
                "Content-Encoding": "zstd",
            }
            # An agent always reaches the same replica, as behind a load balancer that keeps
            # its connection; frame n comes from agent n % agents.
            runs.insert(
                0,
                Run(
                    collector_name,
                    collectors,
                    lambda n: ingest_urls[(n % args.agents) % len(ingest_urls)],
                    lambda n: (collector_bodies[n % count], collector_headers),
                ),
            )
            for name, receivers, url_for, make_body in runs:
                for phase, bodies in (("first contact", first_contact), ("steady", steady)):
                    seconds = len(bodies) * fleet.samples_per_frame / args.rate
                    print(
                        f"{name}, {phase}: {len(bodies):,} frames, {args.rate:,.0f} samples/s "
                        f"offered for {seconds:.0f} s...",
                        flush=True,
                    )
                    pids = [p.pid for p in receivers]
                    meter = Meter(name, pids[0], window_s=2.0, also=tuple(pids[1:]))
                    result = asyncio.run(
                        measured(
                            meter,
                            f"{name}, {phase}",
                            url_for,
                            make_body,
                            fleet.samples_per_frame,
                            args,
                            bodies,
                        )
                    )
                    results.append((result, meter))
                    for proc in receivers:
                        if not proc.running():
                            raise SystemExit(f"{name} exited:\n{proc.log_tail()}")
            if not args.no_watch:
                pids = [p.pid for p in collectors]
                fleet_page = f"http://127.0.0.1:{ports[0]}/api/v1/fleet"
                runs_watched = [(n, False) for n in watched_runs]
                runs_watched.append((min(budget, args.agents), True))
                for count_watched, page in runs_watched:
                    plan = one_second_fleet(
                        fleet,
                        count_watched,
                        args.watch_duration,
                        args.tick_spread,
                        lambda f: zstd.compress(encode_frame(f)),
                    )
                    print(
                        f"{collector_name}, fleet at 1 s, {count_watched} flushing every tick"
                        f"{', the fleet page open' if page else ''}: "
                        f"{len(plan):,} frames in {args.watch_duration} s...",
                        flush=True,
                    )
                    meter = Meter(collector_name, pids[0], window_s=2.0, also=tuple(pids[1:]))
                    work = fleet_at_one_second(
                        plan,
                        count_watched,
                        lambda agent: ingest_urls[agent % len(ingest_urls)],
                        collector_headers,
                        args.concurrency,
                        fleet_page if page else None,
                    )
                    watched.append((asyncio.run(metered(meter, work)), meter))
                    del plan
        finally:
            for proc in reversed(procs):
                proc.stop()
            peer_vm.stop()
            raw.stop()

    rows = []
    for result, meter in results:
        rows.append(
            (
                result.name,
                f"{result.samples / result.elapsed:,.0f}",
                str(result.errors),
                f"{1000 * percentile(result.latencies, 50):.1f}",
                f"{1000 * percentile(result.latencies, 99):.1f}",
                f"{meter.cpu_percent_overall():.0f}",
                f"{meter.rss_peak_mb():.0f}",
            )
        )
    print()
    print_table(
        rows,
        (
            "receiver",
            "samples/s acked",
            "errors",
            "p50 ms",
            "p99 ms",
            "CPU % of a core",
            "RSS MB peak",
        ),
    )
    print()
    if len(results) == 4:
        _, (ours, our_meter), _, (peer, peer_meter) = results
        rate_ratio = (ours.samples / ours.elapsed) / (peer.samples / peer.elapsed)
        cpu_ratio = our_meter.cpu_percent_overall() / peer_meter.cpu_percent_overall()
        print(f"steady: collector rate / vmagent rate: {rate_ratio:.2f}")
        print(f"steady: collector CPU / vmagent CPU:   {cpu_ratio:.2f}")
    print(f"MALLOC_TRIM_THRESHOLD_ set:    {not args.no_malloc_trim}")
    print("target: collector >= 200,000 samples/s with p99 < 100 ms")
    if watched:
        print_watched(watched, args.agents, budget)


def print_watched(runs: list[tuple[Watched, Meter]], agents: int, budget: int) -> None:
    rows = [
        (
            f"{run.watched:,} of {agents:,}{' + fleet page' if run.page else ''}",
            f"{run.requests / run.elapsed:,.0f}",
            f"{run.samples / run.elapsed:,.0f}",
            str(run.errors),
            f"{1000 * percentile(run.latencies, 50):.1f}",
            f"{1000 * percentile(run.latencies, 99):.1f}",
            f"{1000 * percentile(run.delays, 99):.1f}",
            f"{meter.cpu_percent_overall():.0f}",
            str(len(run.asked)),
        )
        for run, meter in runs
    ]
    print(f"\nfleet sampling every second, some agents flushing every tick ({budget=}):")
    print_table(
        rows,
        (
            "flushing every tick",
            "requests/s",
            "samples/s",
            "errors",
            "p50 ms",
            "p99 ms",
            "p99 from tick ms",
            "CPU % of a core",
            "asked",
        ),
    )
    base = runs[0][1].cpu_percent_overall()
    for run, meter in runs[1:]:
        print(
            f"{run.watched:,} flushing every tick{' + the fleet page' if run.page else ''}: "
            f"CPU x{meter.cpu_percent_overall() / base:.2f} "
            f"of nobody watching"
        )


if __name__ == "__main__":
    main()
