"""Agent footprint: hostvitals-agent at 1 s next to node_exporter scraped every 1 s.

Runs, side by side in one run, for the same time:
- hostvitals-agent at a 1 s interval with its default samplers, pushing to a real collector
  backed by a real VictoriaMetrics (sampling, spooling and sending are all counted);
- Debian's prometheus-node-exporter, scraped every 1 s by Debian's vmagent, which pushes to
  the same VictoriaMetrics (the usual push setup for node_exporter).

Prints the median CPU use (% of one core, over 10 s windows) and the RSS of each, and the
ratios. Only the agent, node_exporter and vmagent are measured, not VictoriaMetrics or the
collector.

Measured three times, ``--duration`` seconds each: first with nobody watching the agent's host
(frames every ``flush_interval``, 10 s), then watched: a client polls the host's current
values once a second, as its open dashboard page does, so the collector asks the agent for a
frame every tick (after ``--warmup`` seconds for the switch); then not watched again on a busy
host: ``--processes`` (300) more processes and ``--cgroups`` (200) more cgroups, made by the
benchmark in the cgroup v2 tree the agent scans and removed afterwards (``busyhost.py``), so
the cost of the process and cgroup scans shows. Each phase also prints how long the agent's
process and cgroup scans took (its own ``hostvitals_agent_sampler_duration_seconds``).
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

import requests
from busyhost import busy_host
from common import Meter, console_script, meter_loop, print_table
from scancost import scan_costs

from tests.support.processes import (
    ManagedProcess,
    VictoriaMetrics,
    free_port,
    http_ok,
    wait_until,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=120.0, help="seconds measured")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds before measuring")
    parser.add_argument("--processes", type=int, default=300, help="extra processes when busy")
    parser.add_argument("--cgroups", type=int, default=200, help="extra cgroups when busy")
    parser.add_argument(
        "--no-compression",
        dest="compression",
        action="store_false",
        help="skip measuring the compression of real frames afterwards",
    )
    args = parser.parse_args()

    for binary in ("victoria-metrics", "vmagent", "prometheus-node-exporter"):
        if shutil.which(binary) is None:
            raise SystemExit(f"{binary} is missing; `make deps` installs it")

    with tempfile.TemporaryDirectory(prefix="hostvitals-bench-") as tmp:
        root = Path(tmp)
        vm = VictoriaMetrics(data_dir=root / "vm")
        vm.start()
        procs: list[ManagedProcess] = []
        try:
            collector_port = free_port()
            collector = ManagedProcess(
                [console_script("hostvitals-collector"), "--port", str(collector_port)],
                root / "collector.log",
                env={"HOSTVITALS__VICTORIAMETRICS__URL": vm.url},
            )
            collector.start()
            procs.append(collector)
            wait_until(http_ok(f"http://127.0.0.1:{collector_port}/api/v1/health"), 30, "collector")

            agent = ManagedProcess(
                [
                    console_script("hostvitals-agent"),
                    "--interval",
                    "1",
                    "--collector-url",
                    f"http://127.0.0.1:{collector_port}",
                    "--state-dir",
                    str(root / "agent"),
                    "--host",
                    "bench-agent",
                ],
                root / "agent.log",
            )
            agent.start()
            procs.append(agent)

            ne_port = free_port()
            exporter = ManagedProcess(
                ["prometheus-node-exporter", f"--web.listen-address=127.0.0.1:{ne_port}"],
                root / "node-exporter.log",
            )
            exporter.start()
            procs.append(exporter)
            wait_until(http_ok(f"http://127.0.0.1:{ne_port}/metrics"), 30, "node_exporter")

            scrape = root / "scrape.yml"
            scrape.write_text(
                "scrape_configs:\n"
                "  - job_name: node\n"
                "    scrape_interval: 1s\n"
                f"    static_configs: [{{targets: ['127.0.0.1:{ne_port}']}}]\n"
            )
            vmagent = ManagedProcess(
                [
                    "vmagent",
                    f"-promscrape.config={scrape}",
                    f"-remoteWrite.url={vm.url}/api/v1/write",
                    f"-remoteWrite.tmpDataPath={root / 'vmagent'}",
                    f"-httpListenAddr=127.0.0.1:{free_port()}",
                    "-loggerLevel=ERROR",
                ],
                root / "vmagent.log",
            )
            vmagent.start()
            procs.append(vmagent)

            stop_watching = threading.Event()
            current = f"http://127.0.0.1:{collector_port}/api/v1/metrics/current"
            for phase in PHASES:
                if phase == "watched":
                    threading.Thread(
                        target=watch, args=(current, stop_watching), daemon=True
                    ).start()
                if phase == BUSY:
                    stop_watching.set()
                    with busy_host(args.processes, args.cgroups) as busy:
                        print(f"{phase}: {busy.describe()}", flush=True)
                        measure(phase, args, procs, agent, exporter, vmagent, current)
                else:
                    measure(phase, args, procs, agent, exporter, vmagent, current)
            stop_watching.set()
        finally:
            for proc in reversed(procs):
                proc.stop()
            vm.stop()

    for phase, meters in MEASURED.items():
        print(f"\n{phase} (the agent's frames span {SPANS[phase]}):")
        report(meters)
        times = SCAN_TIMES[phase]
        print(
            "agent scan times, median of its last-run gauge: "
            + ", ".join(
                f"{name} {1000 * statistics.median(v):.1f} ms" if v else f"{name} ?"
                for name, v in times.items()
            )
        )
    print("target: agent CPU <= 0.5 x node_exporter (watched or not), agent RSS < 40 MB")
    scan_costs(args.processes, args.cgroups)
    if args.compression:
        compression_figures()


BUSY = "busy host, not watched"
PHASES = ("not watched", "watched", BUSY)
SCANS = ("processes", "cgroups")
"""The samplers whose cost grows with the host: their scan times are reported."""


def measure(
    phase: str,
    args: argparse.Namespace,
    procs: list[ManagedProcess],
    agent: ManagedProcess,
    exporter: ManagedProcess,
    vmagent: ManagedProcess,
    current: str,
) -> None:
    time.sleep(args.warmup)
    for proc in procs:
        if not proc.running():
            raise SystemExit(f"{proc.argv[0]} exited:\n{proc.log_tail()}")
    meters = [
        Meter("hostvitals-agent", agent.pid),
        Meter("node_exporter", exporter.pid),
        Meter("vmagent (scraping it)", vmagent.pid),
    ]
    print(
        f"{phase}: measuring for {args.duration:g} s after {args.warmup:g} s of warm-up...",
        flush=True,
    )
    stop = threading.Event()
    seen: dict[str, list[float]] = {name: [] for name in SCANS}
    poller = threading.Thread(target=scan_times, args=(current, stop, seen), daemon=True)
    poller.start()
    meter_loop(meters, args.duration)
    stop.set()
    poller.join(10)
    MEASURED[phase] = meters
    SCAN_TIMES[phase] = seen
    SPANS[phase] = frame_span(current)  # a poll: after the measurement


MEASURED: dict[str, list[Meter]] = {}
SCAN_TIMES: dict[str, dict[str, list[float]]] = {}
SPANS: dict[str, str] = {}


def scan_times(url: str, stop: threading.Event, seen: dict[str, list[float]]) -> None:
    """The agent's own timing of its last process and cgroup scans, every 5 s. Asks for
    every host's values: that does not count as watching the host."""
    session = requests.Session()
    while not stop.wait(5.0):
        try:
            data = session.get(url, timeout=5).json()["data"]
        except (requests.RequestException, ValueError, KeyError):
            continue
        for snap in data:
            if snap.get("host") != "bench-agent":
                continue
            for s in snap["series"]:
                name = s["labels"].get("sampler")
                if s["metric"] == "hostvitals_agent_sampler_duration_seconds" and name in seen:
                    seen[name].append(float(s["value"]))


def watch(url: str, stop: threading.Event) -> None:
    """The host's dashboard page: its current values once a second."""
    session = requests.Session()
    while not stop.is_set():
        with contextlib.suppress(requests.RequestException):
            session.get(url, params={"host": "bench-agent"}, timeout=5)
        stop.wait(1.0)


def frame_span(url: str) -> str:
    """The agent's own report of how many seconds its frames span now."""
    try:
        (snap,) = requests.get(url, params={"host": "bench-agent"}, timeout=5).json()["data"]
    except (requests.RequestException, ValueError, KeyError):
        return "?"
    spans = [
        s["value"]
        for s in snap["series"]
        if s["metric"] == "hostvitals_agent_flush_interval_seconds"
    ]
    return f"{spans[0]:g} s" if spans else "?"


def report(meters: list[Meter]) -> None:
    rows = [
        (
            m.name,
            f"{m.cpu_percent_median():.2f}",
            f"{m.cpu_percent_overall():.2f}",
            f"{m.rss_median_mb():.1f}",
            f"{m.rss_peak_mb():.1f}",
        )
        for m in meters
    ]
    print_table(
        rows,
        ("process", "CPU % median", "CPU % overall", "RSS MB median", "RSS MB peak"),
    )
    agent_cpu = meters[0].cpu_percent_median()
    exporter_cpu = meters[1].cpu_percent_median()
    both = exporter_cpu + meters[2].cpu_percent_median()
    print()
    print(f"agent CPU / node_exporter CPU:             {agent_cpu / exporter_cpu:.2f}")
    print(f"agent CPU / (node_exporter + vmagent) CPU: {agent_cpu / both:.2f}")
    print(
        f"agent RSS peak / node_exporter RSS peak:   "
        f"{meters[0].rss_peak_mb() / meters[1].rss_peak_mb():.2f}"
    )


def compression_figures(ticks: int = 10) -> None:
    """Sizes of real frames (this host's default samplers, ``ticks`` ticks 1 s apart) raw,
    gzip-compressed and zstd-compressed, as the agent would send them.
    """
    import asyncio
    import gzip

    import zstandard

    from hostvitals.agent.batcher import Batcher
    from hostvitals.agent.config import load_config
    from hostvitals.agent.registry import Registry
    from hostvitals.agent.sampling import build_samplers
    from hostvitals.shared.codec import encode_frame

    config = load_config(None, environ={}, flags={"host": "bench-host"})
    scheduled, agent_self = build_samplers(config)
    registry = Registry(scheduled)
    if agent_self is not None:
        agent_self.add_source(registry.stats_rows)
    batcher = Batcher(
        agent_id="00000000-0000-4000-8000-000000000000",
        host="bench-host",
        interval_s=1.0,
        flush_interval_s=float(ticks + 1),
        max_samples=10**6,
        next_seq=lambda: 0,
    )

    async def sample() -> None:
        start = int(time.time()) * 1000
        for i in range(ticks):
            batcher.add(start + 1000 * i, await registry.collect(start + 1000 * i, 1.0, force=True))
            await asyncio.sleep(1)

    print(f"\ncompression of a real frame ({ticks} ticks of the default samplers)...")
    asyncio.run(sample())
    registry.close()
    frame = batcher.flush()
    assert frame is not None
    raw = encode_frame(frame)
    zstd = zstandard.ZstdCompressor(level=3)
    rows = [("none", str(len(raw)), "100.0", "-")]
    for name, compress in (
        ("gzip level 6", lambda data: gzip.compress(data, compresslevel=6, mtime=0)),
        ("zstd level 3", zstd.compress),
    ):
        started = time.process_time()
        for _ in range(50):
            body = compress(raw)
        cpu_ms = (time.process_time() - started) / 50 * 1000
        rows.append((name, str(len(body)), f"{100 * len(body) / len(raw):.1f}", f"{cpu_ms:.3f}"))
    print(f"{len(frame.series)} series, {frame.sample_count()} samples")
    print_table(rows, ("encoding", "bytes", "% of raw", "CPU ms per frame"))


if __name__ == "__main__":
    main()
