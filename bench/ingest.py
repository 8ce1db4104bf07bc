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
The third receiver is that write's floor: VictoriaMetrics direct, taking the same samples on
its own ``/api/v1/import`` from as many clients. After each collector run the benchmark prints
the collector's own view from its ``/metrics``: the share of its answers, and of its writes to
VictoriaMetrics, that took over 100 ms.
Target: the collector sustains >= 200,000 samples/s with p99 < 100 ms on 2 cores.

``--runs N`` repeats the whole measurement on fresh processes and prints, besides each run's
table, the median and range over the runs of the steady rate and p99. The collector runs as
shipped, with its stall watch off; ``--stall-watch MS`` turns it on (``server.stall_watch_ms``)
and after each run prints the event-loop stalls it saw, where the loop was, and the GC pauses.
The watch lengthens the tail it reports (``bench/common.py``), so its runs are for finding a
stall, not for the figures.
``--tracemalloc N`` runs the collector under tracemalloc (N frames; it slows the collector
down) and prints where its heap is after the steady run (``/api/v1/debug/memory``).

Watchers: after the first run's fixed-rate phases, the same fleet samples every second for
``--watch-duration`` seconds while ``--watched`` of its agents are watched (someone has their
page open): those send a frame of one tick every tick, as the collector asks them to, the
others ten ticks every ten seconds. Every agent ticks on the same second, its frame leaving
within ``--tick-spread`` s. The run with every agent flushing every tick shows what raising
``live.watch_max_hosts`` to the whole fleet would cost. A last run adds what watching costs
itself: a client polls ``/api/v1/fleet`` once a second like the fleet page, and the collector
asks at most ``live.watch_max_hosts`` hosts to flush every tick (the "asked" column).
Printed per run: requests/s and samples/s acknowledged, p50/p99 from sending to the answer,
p99 from the tick to the answer, and the collector's CPU.

    .venv/bin/python bench/ingest.py [--rate 200000] [--duration 20] [--runs 3]
        [--no-malloc-trim] [--watched 0,200,2000] [--watch-duration 15] [--no-watch]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import requests
import zstandard
from common import (
    REPO,
    STALL_WATCH_MS,
    Meter,
    console_script,
    histogram_buckets,
    print_stalls,
    print_table,
    share_over,
    stall_report,
)
from fleetload import (
    BodyMaker,
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

DIRECT = "victoria-metrics direct"
COLLECTOR_HEADERS = {"Content-Type": "application/x-msgpack", "Content-Encoding": "zstd"}


class Run(NamedTuple):
    """One receiver under load: its processes, where frame n goes and what it carries."""

    name: str
    receivers: list[ManagedProcess]
    url_for: Callable[[int], str]
    make_body: BodyMaker
    stalls_from: list[str]  # base URLs whose stall watch to read after each phase
    own_from: list[str] = []  # base URLs whose own latency histograms to read around each phase


OWN_HISTOGRAMS = (
    ("answered", "hostvitals_collector_ingest_duration_seconds"),
    ("VictoriaMetrics writes", "hostvitals_collector_vm_write_duration_seconds"),
)
"""The collector's own view of a phase: its answers' latency, and its writes' within it."""
OWN_BOUND_S = 0.1


@dataclass
class Measured:
    result: Result
    meter: Meter
    stalls: list[dict[str, Any] | None]
    own: dict[str, tuple[float, int]] = field(default_factory=dict)


@dataclass
class RunResults:
    """One whole measurement: the fixed-rate phases, then (first run only) the watched ones."""

    fixed: list[Measured] = field(default_factory=list)
    watched: list[tuple[Watched, Meter]] = field(default_factory=list)


@dataclass(frozen=True)
class Load:
    """The prepared bodies and which of them each phase sends."""

    fleet: Fleet
    collector_bodies: list[bytes]
    vmagent_bodies: list[bytes]
    first_contact: range
    steady: range


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--agents", type=int, default=2000)
    parser.add_argument("--series", type=int, default=150)
    parser.add_argument("--rate", type=float, default=200_000, help="samples/s offered")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of the steady run")
    parser.add_argument("--runs", type=int, default=1, help="whole measurements, each afresh")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument(
        "--no-peer", action="store_true", help="skip the vmagent and VictoriaMetrics-direct runs"
    )
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
        "--tracemalloc",
        type=int,
        default=0,
        metavar="FRAMES",
        help="trace the collector's allocations and print its heap after the steady run",
    )
    parser.add_argument(
        "--stall-watch",
        type=int,
        default=STALL_WATCH_MS,
        metavar="MS",
        help="the collector's server.stall_watch_ms (default 0: off, as shipped)",
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
    if args.collectors < 1:
        parser.error("--collectors must be at least 1")
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def prepare(args: argparse.Namespace) -> Load:
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
    load = Load(
        fleet,
        [zstd.compress(encode_frame(f)) for f in frames],
        [frame_to_import_lines(f).body for f in frames],
        first_contact,
        steady,
    )
    # The generator's own garbage collector must not pause it mid-run (a pause would show as
    # latency of whatever was in flight): the prepared bodies are frozen out of collections.
    del frames
    gc.collect()
    gc.freeze()
    return load


def watched_counts(args: argparse.Namespace, budget: int) -> list[tuple[int, bool]]:
    """(agents flushing every tick, fleet page open) of each watched run."""
    counts = (
        [int(n) for n in args.watched.split(",")]
        if args.watched
        else [0, min(budget, args.agents), args.agents]
    )
    return [*((n, False) for n in counts), (min(budget, args.agents), True)]


def one_run(args: argparse.Namespace, load: Load, *, watch: bool) -> RunResults:
    """Start the receivers afresh, load each with first contact then the steady run; with
    ``watch``, then the fleet at one second with watchers."""
    collector_name = "collector" if args.collectors == 1 else f"collector x{args.collectors}"
    count = load.steady.stop
    samples_per_frame = load.fleet.samples_per_frame
    out = RunResults()
    with tempfile.TemporaryDirectory(prefix="hostvitals-bench-ingest-") as tmp:
        root = Path(tmp)
        raw = VictoriaMetrics(data_dir=root / "vm", extra_args=("-dedup.minScrapeInterval=1ms",))
        peer_vm = VictoriaMetrics(
            data_dir=root / "vm-peer", extra_args=("-dedup.minScrapeInterval=1ms",)
        )
        direct_vm = VictoriaMetrics(
            data_dir=root / "vm-direct", extra_args=("-dedup.minScrapeInterval=1ms",)
        )
        procs: list[ManagedProcess] = []
        try:
            raw.start()
            peer_vm.start()
            if not args.no_peer:
                direct_vm.start()
            ports = [free_port() for _ in range(args.collectors)]
            collectors = []
            for n, port in enumerate(ports):
                env = {
                    "HOSTVITALS__VICTORIAMETRICS__URL": raw.url,
                    "HOSTVITALS__STATE__DIR": str(root / f"collector-{n}"),
                    "HOSTVITALS__TIERS__ROLLUPS": "[]",
                    "HOSTVITALS__SERVER__LOG_LEVEL": "warning",
                    "HOSTVITALS__SERVER__STALL_WATCH_MS": str(args.stall_watch),
                    "HOSTVITALS__LIMITS__MAX_SERIES_PER_HOST": str(max(10_000, args.series)),
                }
                if not args.no_malloc_trim:
                    env["MALLOC_TRIM_THRESHOLD_"] = "268435456"
                if args.tracemalloc:
                    env["PYTHONTRACEMALLOC"] = str(args.tracemalloc)
                collector = ManagedProcess(
                    [console_script("hostvitals-collector"), "--port", str(port)],
                    root / f"collector-{n}.log",
                    env=env,
                )
                collector.start()
                procs.append(collector)
                collectors.append(collector)
            bases = [f"http://127.0.0.1:{port}" for port in ports]
            for base in bases:
                wait_until(http_ok(f"{base}/api/v1/health"), 30, "collector")
            ingest_urls = [f"{base}/api/v1/ingest" for base in bases]

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
                        lambda n: (load.vmagent_bodies[n % count], {}),
                        [],
                    )
                )
                # The floor of the collector's latency: it answers once VictoriaMetrics
                # stored a frame's samples, so here the same samples go to VictoriaMetrics'
                # own import handler, from the same number of clients.
                assert direct_vm.process is not None
                direct_url = f"{direct_vm.url}/api/v1/import"
                runs.append(
                    Run(
                        DIRECT,
                        [direct_vm.process],
                        lambda n: direct_url,
                        lambda n: (load.vmagent_bodies[n % count], {}),
                        [],
                    )
                )

            # An agent always reaches the same replica, as behind a load balancer that keeps
            # its connection; frame n comes from agent n % agents.
            runs.insert(
                0,
                Run(
                    collector_name,
                    collectors,
                    lambda n: ingest_urls[(n % args.agents) % len(ingest_urls)],
                    lambda n: (load.collector_bodies[n % count], COLLECTOR_HEADERS),
                    bases if args.stall_watch > 0 else [],
                    bases,
                ),
            )
            phases = (("first contact", load.first_contact), ("steady", load.steady))
            for name, receivers, url_for, make_body, watched, own_from in runs:
                for phase, bodies in phases:
                    seconds = len(bodies) * samples_per_frame / args.rate
                    print(
                        f"{name}, {phase}: {len(bodies):,} frames, {args.rate:,.0f} samples/s "
                        f"offered for {seconds:.0f} s...",
                        flush=True,
                    )
                    pids = [p.pid for p in receivers]
                    meter = Meter(name, pids[0], window_s=2.0, also=tuple(pids[1:]))
                    own_before = own_histograms(own_from)
                    result = asyncio.run(
                        measured(
                            meter,
                            f"{name}, {phase}",
                            url_for,
                            make_body,
                            samples_per_frame,
                            args,
                            bodies,
                        )
                    )
                    stalls = [stall_report(base, result.started_at) for base in watched]
                    own = own_shares(own_before, own_histograms(own_from))
                    out.fixed.append(Measured(result, meter, stalls, own))
                    if args.tracemalloc and watched and phase == "steady":
                        print_heap(watched[0], meter)
                    for proc in receivers:
                        if not proc.running():
                            raise SystemExit(f"{name} exited:\n{proc.log_tail()}")
            if watch:
                out.watched = run_watched(args, load.fleet, collectors, bases, collector_name)
        finally:
            for proc in reversed(procs):
                proc.stop()
            direct_vm.stop()
            peer_vm.stop()
            raw.stop()
    return out


def own_histograms(bases: list[str]) -> dict[str, dict[float, float]]:
    """The collector's ``OWN_HISTOGRAMS`` now, summed over its replicas (none: nothing)."""
    out: dict[str, dict[float, float]] = {}
    for label, name in OWN_HISTOGRAMS if bases else ():
        summed = out.setdefault(label, {})
        for base in bases:
            for bound, count in histogram_buckets(base, name).items():
                summed[bound] = summed.get(bound, 0.0) + count
    return out


def own_shares(
    before: dict[str, dict[float, float]], after: dict[str, dict[float, float]]
) -> dict[str, tuple[float, int]]:
    return {label: share_over(before[label], after[label], OWN_BOUND_S) for label in after}


def run_watched(
    args: argparse.Namespace,
    fleet: Fleet,
    collectors: list[ManagedProcess],
    bases: list[str],
    collector_name: str,
) -> list[tuple[Watched, Meter]]:
    """The fleet sampling every second while some of it is watched (see the module's text)."""
    zstd = zstandard.ZstdCompressor(level=3)
    pids = [p.pid for p in collectors]
    ingest_urls = [f"{base}/api/v1/ingest" for base in bases]
    fleet_page = f"{bases[0]}/api/v1/fleet"
    out: list[tuple[Watched, Meter]] = []
    for count_watched, page in watched_counts(args, LiveSettings().watch_max_hosts):
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
            COLLECTOR_HEADERS,
            args.concurrency,
            fleet_page if page else None,
        )
        out.append((asyncio.run(metered(meter, work)), meter))
        del plan
    return out


def print_heap(base: str, meter: Meter, top: int = 15) -> None:
    """Where the collector's Python heap is (tracemalloc), beside its RSS."""
    heap = requests.get(f"{base}/api/v1/debug/memory", params={"top": top}, timeout=120).json()
    print(
        f"  collector heap (tracemalloc): {heap['total_bytes'] / 2**20:.0f} MiB in "
        f"{heap['blocks']:,} blocks; RSS {meter.rss_peak_mb():.0f} MB peak"
    )
    for item in heap["top"]:
        where = " < ".join(w.removeprefix(str(REPO) + "/") for w in reversed(item["where"][-3:]))
        print(f"    {item['bytes'] / 2**20:7.1f} MiB {item['blocks']:9,d}  {where}")


def print_run(results: list[Measured]) -> None:
    rows = []
    for m in results:
        rows.append(
            (
                m.result.name,
                f"{m.result.rate:,.0f}",
                str(m.result.errors),
                f"{1000 * percentile(m.result.latencies, 50):.1f}",
                f"{1000 * percentile(m.result.latencies, 99):.1f}",
                f"{m.meter.cpu_percent_overall():.0f}",
                f"{m.meter.rss_peak_mb():.0f}",
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
    for m in results:
        if m.own:
            shares = ", ".join(
                f"{label} {100 * share:.1f} % of {count:,}"
                for label, (share, count) in m.own.items()
            )
            print(f"  {m.result.name}, its own view, over {1000 * OWN_BOUND_S:.0f} ms: {shares}")
        for n, report in enumerate(m.stalls):
            print_stalls(m.result.name + (f" (replica {n})" if len(m.stalls) > 1 else ""), report)
    print()
    steady = {
        m.result.name.rsplit(", ", 1)[0]: m for m in results if m.result.name.endswith("steady")
    }
    ours = next((m for name, m in steady.items() if name.startswith("collector")), None)
    for peer in ("vmagent", DIRECT):
        if ours is None or peer not in steady:
            continue
        theirs = steady[peer]
        p99_ratio = percentile(ours.result.latencies, 99) / percentile(theirs.result.latencies, 99)
        cpu_ratio = ours.meter.cpu_percent_overall() / theirs.meter.cpu_percent_overall()
        print(
            f"steady: collector / {peer}: rate x{ours.result.rate / theirs.result.rate:.2f}, "
            f"p99 x{p99_ratio:.2f}, CPU x{cpu_ratio:.2f}"
        )


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


def spread(values: list[float], unit: str, digits: int = 1) -> str:
    """``median (range min-max)`` of ``values``."""
    return (
        f"median {statistics.median(values):,.{digits}f} {unit} "
        f"(range {min(values):,.{digits}f}-{max(values):,.{digits}f})"
    )


def main() -> None:
    args = parse_args()
    load = prepare(args)
    runs: list[RunResults] = []
    for n in range(args.runs):
        if args.runs > 1:
            print(f"\n--- run {n + 1} of {args.runs}", flush=True)
        runs.append(one_run(args, load, watch=n == 0 and not args.no_watch))
        print_run(runs[-1].fixed)
    if args.runs > 1:
        print(f"over {args.runs} runs:")
        for i, m in enumerate(runs[0].fixed):
            found = [run.fixed[i].result for run in runs]
            p99s = [1000 * percentile(r.latencies, 99) for r in found]
            print(
                f"  {m.result.name}: rate {spread([r.rate for r in found], 'samples/s', 0)}, "
                f"p99 {spread(p99s, 'ms')}"
            )
    print(f"MALLOC_TRIM_THRESHOLD_ set:    {not args.no_malloc_trim}")
    print("target: collector >= 200,000 samples/s with p99 < 100 ms")
    if runs[0].watched:
        print_watched(runs[0].watched, args.agents, LiveSettings().watch_max_hosts)


if __name__ == "__main__":
    main()
