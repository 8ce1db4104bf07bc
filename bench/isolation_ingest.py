"""Isolation: what live streams and hostile bodies cost ingest, side by side with a quiet run.

One collector process backed by a real VictoriaMetrics takes a fleet of ``--hosts`` agents
(default 300 x 150 series, 10 ticks per frame, zstd) at a fixed rate (default 200,000
samples/s), open loop, in runs of ``--duration`` seconds:

- quiet: nothing else;
- ``--streams`` dashboards (default 64, the default `ui.max_streams`) on the fleet's live
  stream, read by a separate process so the load generator is not slowed by them;
- half of them on the fleet, half on one host each.

The three alternate for ``--rounds`` rounds (default 3), each round starting with the next
kind; the quiet baseline is the median of the quiet runs' p99, and each kind of run is
compared by the median of its own.

For each: requests/s, samples/s acknowledged, errors, p50/p99 from sending to the answer, the
collector's CPU, the stream updates it computed (once per tick and key, however many
streams show them), the bytes each stream received per second, and the CPU of the process
that reads the streams (the dashboards share this machine in the bench, not in production).
Target: p99 with 64 streams less than 10 % over the quiet baseline; each kind's range of p99
is printed beside its median, the quiet runs' too, since the noise between two quiet runs on a
busy machine can be larger than the target.
The stream rate limits are off for the run (every dashboard comes from the one address), and
the bench stops if any stream was refused.

Then hostile bodies: each kind of amplification body, alone and four at a time, against the
configured limits (`limits.max_decompressed_bytes`): the time to its 413, how far the
collector's RSS rose (peak over the start), and the health endpoint's latency meanwhile.

    .venv/bin/python bench/isolation_ingest.py [--hosts 300] [--rate 200000] [--duration 15]
        [--streams 64] [--rounds 3] [--no-bodies] [--code OTHER_CHECKOUT]
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import multiprocessing
import statistics
import struct
import tempfile
import time
from multiprocessing.process import BaseProcess
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event
from pathlib import Path

import aiohttp
import msgpack
import psutil
import requests
import zstandard
from common import REPO, Meter, console_script, print_table, wait_quiet
from fleetload import Fleet, Result, measured, percentile

from hostvitals.collector.config.limits import LimitsSettings
from hostvitals.shared.codec import encode_frame
from tests.support.processes import ManagedProcess, VictoriaMetrics, free_port, http_ok, wait_until

MiB = 1024 * 1024
SPAWN = multiprocessing.get_context("spawn")
"""The dashboards' reader starts as a new interpreter, sharing no memory with the load
generator (which holds every frame of the runs)."""
NIL = b"\xc0"


def read_streams(
    urls: list[str],
    seconds: float,
    ready: Event,
    refused: Synchronized[int],
    received: Synchronized[int],
) -> None:
    """Hold one live stream open per URL for ``seconds``, reading and dropping its bytes.

    ``ready`` is set once every stream has its answer; ``refused`` counts those that were
    not 200 (the bench stops then: it would measure fewer streams than it says);
    ``received`` counts the bytes of every stream."""

    async def run() -> None:
        connector = aiohttp.TCPConnector(limit=len(urls))
        timeout = aiohttp.ClientTimeout(total=None)
        answered = 0

        def one_answered() -> None:
            nonlocal answered
            answered += 1
            if answered == len(urls):
                ready.set()

        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

            async def one(url: str) -> None:
                async with session.get(url) as answer:
                    if answer.status != 200:
                        with refused.get_lock():
                            refused.value += 1
                    one_answered()
                    async for chunk in answer.content.iter_any():
                        with received.get_lock():
                            received.value += len(chunk)

            tasks = [asyncio.create_task(one(url)) for url in urls]
            await asyncio.sleep(seconds)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(run())


def metric(base: str, name: str) -> float:
    """The sum of a metric's samples (``name`` as exported, e.g. ending in ``_total``)."""
    total = 0.0
    for line in requests.get(f"{base}/metrics", timeout=10).text.splitlines():
        if line.startswith((f"{name} ", f"{name}{{")):
            total += float(line.split()[-1])
    return total


def kinds_computed(base: str) -> tuple[float, float]:
    """Stream updates computed so far: the fleet's, and the hosts' (one per host and tick)."""
    name = "hostvitals_collector_stream_updates_computed_total"
    return metric(base, f'{name}{{kind="fleet"}}'), metric(base, f'{name}{{kind="host"}}')


def cpu_seconds(process: BaseProcess | None) -> float:
    """CPU seconds ``process`` used so far (0 without one)."""
    if process is None or process.pid is None:
        return 0.0
    times = psutil.Process(process.pid).cpu_times()
    return float(times.user + times.system)


def rss_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field}")


def pack(value: object) -> bytes:
    return bytes(msgpack.packb(value))


def bombs() -> dict[str, bytes]:
    """Amplification bodies, gzip: small on the wire, huge once decoded."""
    array = b"\xdd" + struct.pack(">I", 60 * MiB) + NIL * (60 * MiB)
    head = {"v": 1, "agent": "a", "host": "bomb", "seq": 1, "sent": 1, "interval": 1.0}
    ticks = 200_000
    frame = b"\x88" + b"".join(pack(k) + pack(v) for k, v in head.items())
    frame += pack("ts") + pack(list(range(1, ticks + 1)))
    frame += pack("series") + b"\xdd" + struct.pack(">I", 300)
    one = b"\x93" + pack("node_load1") + b"\x80" + b"\xdd" + struct.pack(">I", ticks)
    frame += (one + NIL * ticks) * 300
    labels = pack({chr(97 + i): f"{i:02}" for i in range(16)})
    maps = b"\x88" + b"".join(pack(k) + pack(v) for k, v in head.items())
    maps += pack("ts") + pack([1]) + pack("series") + b"\xdd" + struct.pack(">I", 1_000_000)
    maps += (b"\x93" + pack("node_load1") + labels + pack([1.0])) * 1_000_000
    return {
        "60 MiB array of nils": gzip.compress(array, 9),
        "300 series x 200k nils": gzip.compress(frame, 9),
        "1M series of 16 labels": gzip.compress(maps, 9),
    }


async def hostile(
    base: str, pid: int, body: bytes, parallel: int
) -> tuple[str, float, float, float]:
    """``parallel`` copies of ``body`` at once: the answers' statuses, seconds to the last, RSS
    rise (MiB), and the worst health latency (s) meanwhile."""
    headers = {"Content-Type": "application/x-msgpack", "Content-Encoding": "gzip"}
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    before = rss_kib(pid, "VmRSS")
    health: list[float] = []
    async with aiohttp.ClientSession() as session:
        done = asyncio.Event()

        async def probe() -> None:
            while not done.is_set():
                started = time.perf_counter()
                async with session.get(f"{base}/api/v1/health") as answer:
                    await answer.read()
                health.append(time.perf_counter() - started)
                await asyncio.sleep(0.02)

        async def send() -> int:
            async with session.post(f"{base}/api/v1/ingest", data=body, headers=headers) as a:
                await a.read()
                return a.status

        prober = asyncio.create_task(probe())
        started = time.perf_counter()
        statuses = await asyncio.gather(*(send() for _ in range(parallel)))
        took = time.perf_counter() - started
        done.set()
        await prober
    if not all(400 <= status < 500 for status in statuses):
        raise SystemExit(f"hostile body answered {statuses}")
    answered = "/".join(str(s) for s in sorted(set(statuses)))
    return answered, took, (rss_kib(pid, "VmHWM") - before) / 1024, max(health)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--hosts", type=int, default=300)
    parser.add_argument("--series", type=int, default=150)
    parser.add_argument("--rate", type=float, default=200_000, help="samples/s offered")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per run")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--streams", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-bodies", action="store_true", help="skip the hostile bodies")
    parser.add_argument("--no-ingest", action="store_true", help="only the hostile bodies")
    parser.add_argument(
        "--code",
        type=Path,
        help="run the collector from this checkout instead (a before/after comparison)",
    )
    args = parser.parse_args()

    fleet = Fleet(args.hosts, args.series)
    zstd = zstandard.ZstdCompressor(level=3)
    per_run = int(args.rate / fleet.samples_per_frame * args.duration)
    kinds = ["quiet", f"{args.streams} fleet streams", f"{args.streams // 2} fleet + host streams"]
    # Each round starts with another kind, so none always follows the same one.
    rounds = 0 if args.no_ingest else args.rounds
    runs = [kinds[(r + i) % len(kinds)] for r in range(rounds) for i in range(len(kinds))]
    total = args.hosts + per_run * len(runs)
    print(f"building {total:,} frames of {fleet.samples_per_frame} samples...", flush=True)
    bodies = [zstd.compress(encode_frame(fleet.frame(n))) for n in range(total)]
    headers = {"Content-Type": "application/x-msgpack", "Content-Encoding": "zstd"}

    with tempfile.TemporaryDirectory(prefix="hostvitals-bench-isolation-") as tmp:
        root = Path(tmp)
        vm = VictoriaMetrics(data_dir=root / "vm", extra_args=("-dedup.minScrapeInterval=1ms",))
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        collector = ManagedProcess(
            [console_script("hostvitals-collector"), "--port", str(port)],
            root / "collector.log",
            env={
                "HOSTVITALS__VICTORIAMETRICS__URL": vm.url,
                "HOSTVITALS__STATE__DIR": str(root / "state"),
                "HOSTVITALS__TIERS__ROLLUPS": "[]",
                "HOSTVITALS__SERVER__LOG_LEVEL": "warning",
                "HOSTVITALS__UI__MAX_STREAMS": str(args.streams + 8),
                # The dashboards all come from this one address at once: with the shipped
                # stream rate limits (a burst of 40 per address, 20 per credential) only the
                # first 40 would open, and which of them (fleet or host) would vary by run.
                "HOSTVITALS__RATE_LIMITS__STREAM_PER_ADDRESS_PER_S": "0",
                "HOSTVITALS__RATE_LIMITS__STREAM_PER_CREDENTIAL_PER_S": "0",
                "MALLOC_TRIM_THRESHOLD_": "268435456",
                # The shipped file of the checkout that runs.
                "HOSTVITALS_CONFIG": str((args.code or REPO).resolve() / "config/config.yaml"),
                **({"PYTHONPATH": str(args.code.resolve())} if args.code else {}),
            },
        )
        results: list[tuple[str, Result, Meter, tuple[float, ...]]] = []
        hostile_rows: list[tuple[str, ...]] = []
        try:
            vm.start()
            collector.start()
            try:
                wait_until(http_ok(f"{base}/api/v1/health"), 60, "collector")
            except TimeoutError:
                raise SystemExit(f"the collector did not start:\n{collector.log_tail()}") from None
            url = f"{base}/api/v1/ingest"

            def body(n: int) -> tuple[bytes, dict[str, str]]:
                return bodies[n], headers

            print("first contact: every host's first frame...", flush=True)
            asyncio.run(
                measured(
                    Meter("collector", collector.pid),
                    "first contact",
                    lambda n: url,
                    body,
                    fleet.samples_per_frame,
                    args,
                    range(args.hosts),
                )
            )
            wait_quiet(vm.process.pid if vm.process else collector.pid)
            hosts = [f"bench-host-{n}" for n in range(args.hosts)]
            for index, name in enumerate(runs):
                if name.startswith("quiet"):
                    urls: list[str] = []
                elif "host" in name:
                    half = args.streams // 2
                    urls = [f"{base}/api/v1/stream"] * half + [
                        f"{base}/api/v1/stream?host={hosts[n % len(hosts)]}"
                        for n in range(args.streams - half)
                    ]
                else:
                    urls = [f"{base}/api/v1/stream"] * args.streams
                reader = None
                received = SPAWN.Value("q", 0)
                if urls:
                    ready = SPAWN.Event()
                    refused = SPAWN.Value("i", 0)
                    reader = SPAWN.Process(
                        target=read_streams,
                        args=(urls, args.duration + 3, ready, refused, received),
                        daemon=True,
                    )
                    reader.start()
                    ready.wait(30)
                    opened = metric(base, "hostvitals_collector_streams_open")
                    if refused.value or opened != len(urls):
                        raise SystemExit(
                            f"{name}: {opened:.0f} of {len(urls)} streams open, "
                            f"{refused.value} refused"
                        )
                computed_before = kinds_computed(base)
                received_before = received.value
                reader_before = cpu_seconds(reader)
                first = args.hosts + index * per_run
                print(f"{name}: {per_run:,} frames in {args.duration:.0f} s...", flush=True)
                meter = Meter("collector", collector.pid, window_s=2.0)
                result = asyncio.run(
                    measured(
                        meter,
                        name,
                        lambda n: url,
                        body,
                        fleet.samples_per_frame,
                        args,
                        range(first, first + per_run),
                    )
                )
                computed = kinds_computed(base)
                each = (received.value - received_before) / max(1, len(urls)) / result.elapsed
                reader_cpu = 100 * (cpu_seconds(reader) - reader_before) / result.elapsed
                results.append(
                    (
                        name,
                        result,
                        meter,
                        (
                            *(a - b for a, b in zip(computed, computed_before, strict=True)),
                            each / 1024,
                            reader_cpu,
                        ),
                    )
                )
                if reader is not None:
                    reader.terminate()
                    reader.join(10)
                if not collector.running():
                    raise SystemExit(f"collector exited:\n{collector.log_tail()}")
            if not args.no_bodies:
                limit = LimitsSettings().max_decompressed_bytes / MiB
                for kind, data in bombs().items():
                    for parallel in (1, 4):
                        answered, took, rose, worst = asyncio.run(
                            hostile(base, collector.pid, data, parallel)
                        )
                        hostile_rows.append(
                            (
                                kind,
                                f"{len(data) / 1024:,.0f}",
                                str(parallel),
                                answered,
                                f"{1000 * took / parallel:,.0f}",
                                f"{rose:,.0f}",
                                f"{rose / parallel / limit:.2f}",
                                f"{1000 * worst:,.0f}",
                            )
                        )
        finally:
            collector.stop()
            vm.stop()

    rows = [
        (
            name,
            f"{result.samples / fleet.samples_per_frame / result.elapsed:,.0f}",
            f"{result.samples / result.elapsed:,.0f}",
            str(result.errors),
            f"{1000 * percentile(result.latencies, 50):.1f}",
            f"{1000 * percentile(result.latencies, 99):.1f}",
            f"{meter.cpu_percent_overall():.0f}",
            f"{computed[0]:.0f} + {computed[1]:.0f}",
            f"{computed[2]:,.1f}",
            f"{computed[3]:.0f}",
        )
        for name, result, meter, computed in results
    ]
    print(f"\ningest, {args.hosts} hosts at {args.rate:,.0f} samples/s offered:")
    print_table(
        rows,
        (
            "run",
            "frames/s",
            "samples/s acked",
            "errors",
            "p50 ms",
            "p99 ms",
            "CPU % of a core",
            "stream updates computed (fleet + host)",
            "KiB/s per stream",
            "readers' CPU %",
        ),
    )
    p99s = {
        kind: [percentile(result.latencies, 99) for name, result, _, _ in results if name == kind]
        for kind in ([] if args.no_ingest else kinds)
    }
    p99 = {kind: statistics.median(found) for kind, found in p99s.items()}

    def spread(kind: str) -> str:
        return f"{1000 * min(p99s[kind]):.1f}-{1000 * max(p99s[kind]):.1f}"

    for kind in kinds[1:] if p99 else ():
        worse = p99[kind] / p99["quiet"] - 1
        print(
            f"{kind}: median p99 {1000 * p99[kind]:.1f} ms ({spread(kind)}), {100 * worse:+.0f} % "
            f"against the quiet baseline's {1000 * p99['quiet']:.1f} ms ({spread('quiet')}) "
            "(target < 10 %)"
        )
    if hostile_rows:
        print(f"\nhostile bodies, limits.max_decompressed_bytes = {limit:.0f} MiB:")
        print_table(
            hostile_rows,
            (
                "body",
                "KiB sent",
                "at once",
                "answer",
                "ms per body",
                "RSS rise MiB",
                "rise per body / limit",
                "worst health ms",
            ),
        )


if __name__ == "__main__":
    main()
