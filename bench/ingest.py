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

    .venv/bin/python bench/ingest.py [--rate 200000] [--duration 20] [--no-malloc-trim]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import aiohttp
import zstandard
from common import Meter, console_script, print_table

from hostvitals.collector.ingest.importlines import frame_to_import_lines
from hostvitals.shared.codec import encode_frame
from hostvitals.shared.protocol import Frame, Series
from tests.support.frames import catalogue_series
from tests.support.processes import (
    ManagedProcess,
    VictoriaMetrics,
    free_port,
    http_ok,
    wait_until,
)

TICKS = 10


def fleet_series(count: int) -> list[Series]:
    """``count`` catalogue series with the agent's label sets (extra NICs beyond 88)."""
    series = catalogue_series(TICKS)
    extra = itertools.count()
    while len(series) < count:
        device = f"veth{next(extra)}"
        for metric in ("node_network_receive_bytes_total", "node_network_transmit_bytes_total"):
            series.append(Series(metric, {"device": device}, [float(i) for i in range(TICKS)]))
    return series[:count]


@dataclass
class Fleet:
    agents: int
    series: int
    _templates: list[Series] = field(init=False)
    _seq: dict[int, int] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self._templates = fleet_series(self.series)

    @property
    def samples_per_frame(self) -> int:
        return self.series * TICKS

    def frame(self, n: int) -> Frame:
        agent = n % self.agents
        seq = self._seq[agent] = self._seq.get(agent, -1) + 1
        end = int(time.time() * 1000)
        ticks = [end - 1000 * (TICKS - 1 - i) for i in range(TICKS)]
        return Frame(
            agent_id=f"bench-{agent}",
            host=f"bench-host-{agent}",
            seq=seq,
            sent_at_ms=end,
            interval_s=1.0,
            timestamps_ms=ticks,
            series=self._templates,
        )


class Run(NamedTuple):
    """One receiver under load: its processes, where frame n goes and what it carries."""

    name: str
    receivers: list[ManagedProcess]
    url_for: Callable[[int], str]
    make_body: Callable[[int], tuple[bytes, dict[str, str]]]


@dataclass
class Result:
    name: str
    samples: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)
    elapsed: float = 0.0


async def drive(
    name: str,
    url_for: Callable[[int], str],
    make_body: Callable[[int], tuple[bytes, dict[str, str]]],
    samples_per_request: int,
    rate: float,
    bodies: range,
    concurrency: int,
) -> Result:
    """Open loop: the i-th request (body ``bodies[i]``) is due at i / (rate / samples) s;
    at most ``concurrency`` open."""
    result = Result(name)
    per_s = rate / samples_per_request
    slots = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(n: int) -> None:
            body, headers = make_body(n)
            try:
                started = time.perf_counter()
                async with session.post(url_for(n), data=body, headers=headers) as response:
                    await response.read()
                    ok = response.status < 300
                result.latencies.append(time.perf_counter() - started)
                if ok:
                    result.samples += samples_per_request
                else:
                    result.errors += 1
            except aiohttp.ClientError:
                result.errors += 1
            finally:
                slots.release()

        tasks = []
        start = time.perf_counter()
        for i, n in enumerate(bodies):
            delay = start + i / per_s - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await slots.acquire()
            tasks.append(asyncio.create_task(one(n)))
        await asyncio.gather(*tasks)
        result.elapsed = time.perf_counter() - start
    return result


async def measured(
    meter: Meter,
    name: str,
    url_for: Callable[[int], str],
    make_body: Callable[[int], tuple[bytes, dict[str, str]]],
    samples_per_request: int,
    args: argparse.Namespace,
    bodies: range,
) -> Result:
    """``drive`` while reading the receiver's CPU and RSS once a second."""

    async def sample() -> None:
        while True:
            meter.read()
            await asyncio.sleep(1.0)

    sampler = asyncio.create_task(sample())
    try:
        return await drive(
            name, url_for, make_body, samples_per_request, args.rate, bodies, args.concurrency
        )
    finally:
        sampler.cancel()
        meter.read()


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return (
        statistics.quantiles(values, n=100, method="inclusive")[q - 1]
        if len(values) > 1
        else values[0]
    )


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
    args = parser.parse_args()

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


if __name__ == "__main__":
    main()
