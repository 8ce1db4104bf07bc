"""API latency: what the dashboard asks the collector, under 100 concurrent clients.

One run starts a private VictoriaMetrics and collector, backfills 24 h of one host's metrics
at a 10 s interval straight into VictoriaMetrics, keeps a real agent reporting as that host,
and then loads, with wrk (100 connections, a fixed time each):

- ``GET /api/v1/metrics/current?host=...`` (the live view, from memory);
- ``GET /api/v1/metrics/cpu`` over 24 h at the step a 1000 px chart asks for (six queries);
- one 24 h range query through the collector's ``/api/v1/query_range`` pass-through, and the
  same query sent straight to VictoriaMetrics: the ratio is the collector's overhead. Both are
  measured twice: as dashboards ask (100 screens on the same range share one answer from the
  collector's query cache, as VictoriaMetrics' own rollup cache shares its work) and with
  ``nocache=1`` (every request computed afresh on both sides).

Prints p50/p99 latency and requests per second of each, the overhead ratios, and (unless
``--no-browser``) how long the host page takes in headless Chromium to show 24 h of data.
Targets: p99 under 50 ms for current, under 200 ms for a 24 h range.
"""

from __future__ import annotations

import argparse
import math
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import orjson
import requests
from common import console_script, print_table, wait_quiet

from hostvitals.shared.catalogue import CATALOGUE, Kind
from tests.support.processes import (
    ManagedProcess,
    VictoriaMetrics,
    free_port,
    http_ok,
    wait_until,
)

HOST = "bench-host"
DAY_S = 86_400
BACKFILL_INTERVAL_S = 10
CHART_PIXELS = 1000
SETTLE_S = 5.0
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


@dataclass(frozen=True)
class Load:
    name: str
    p50_ms: float
    p99_ms: float
    rps: float
    errors: int


def backfill(vm: VictoriaMetrics, end_s: int) -> int:
    """24 h of catalogue series for HOST, imported straight into VictoriaMetrics."""
    timestamps = list(range((end_s - DAY_S) * 1000, end_s * 1000, BACKFILL_INTERVAL_S * 1000))
    lines = []
    for spec in CATALOGUE.values():
        if spec.group in ("processes", "agent"):
            continue
        for labels in LABEL_SETS.get(spec.labels, [{}]) if spec.labels else [{}]:
            values = _values(spec.name, spec.kind, labels, len(timestamps))
            metric = {"__name__": spec.name, "host": HOST, **labels}
            lines.append(
                orjson.dumps({"metric": metric, "values": values, "timestamps": timestamps})
            )
    requests.post(f"{vm.url}/api/v1/import", data=b"\n".join(lines), timeout=120).raise_for_status()
    vm.flush()
    return len(lines) * len(timestamps)


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


def wrk(url: str, seconds: float, connections: int, name: str) -> Load:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds:g}s", "--latency", "--timeout", "10s", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    def ms(label: str) -> float:
        found = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
        if not found:
            raise RuntimeError(f"wrk printed no {label}th percentile:\n{out}")
        value, unit = float(found.group(1)), found.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    socket_errors = re.search(r"Socket errors: .*", out)
    if socket_errors:
        print(f"  {name}: {socket_errors.group(0)}")
    return Load(
        name,
        ms("50"),
        ms("99"),
        float(rps.group(1)) if rps else 0.0,
        int(errors.group(1)) if errors else 0,
    )


def host_page_seconds(collector_url: str, runs: int) -> list[float]:
    """Seconds from navigation until every chart of the host page has drawn 24 h of data."""
    from playwright.sync_api import sync_playwright

    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
    args += ["--disable-component-update", "--disable-sync", "--no-first-run"]
    times = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        try:
            for _ in range(runs):
                context = browser.new_context(viewport={"width": 1280, "height": 800})
                page = context.new_page()
                started = time.perf_counter()
                page.goto(f"{collector_url}/hosts/{HOST}?range=24h")
                page.wait_for_function(
                    "() => Number(document.querySelector('main').dataset.loaded || 0) >= 1 && "
                    '[...document.querySelectorAll(\'figure[data-chart="cpu-usage"],'
                    'figure[data-chart="net-bytes"]\')].every(f => Number(f.dataset.points) > 0)',
                    timeout=60_000,
                )
                times.append(time.perf_counter() - started)
                context.close()
        finally:
            browser.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load per URL")
    parser.add_argument("--connections", type=int, default=100, help="concurrent clients")
    parser.add_argument("--page-runs", type=int, default=5, help="host page loads to time")
    parser.add_argument("--no-browser", action="store_true", help="skip the page timing")
    args = parser.parse_args()
    for binary in ("victoria-metrics", "wrk"):
        if shutil.which(binary) is None:
            raise SystemExit(f"{binary} is missing; `make bench` installs it")

    with tempfile.TemporaryDirectory(prefix="hostvitals-bench-") as tmp:
        root = Path(tmp)
        vm = VictoriaMetrics(data_dir=root / "vm", extra_args=("-dedup.minScrapeInterval=1ms",))
        vm.start()
        procs: list[ManagedProcess] = []
        try:
            port = free_port()
            collector = ManagedProcess(
                [console_script("hostvitals-collector"), "--port", str(port)],
                root / "collector.log",
                # One tier: the backfill is written straight into the raw VictoriaMetrics.
                env={
                    "HOSTVITALS__VICTORIAMETRICS__URL": vm.url,
                    "HOSTVITALS__TIERS__ROLLUPS": "[]",
                },
            )
            collector.start()
            procs.append(collector)
            base = f"http://127.0.0.1:{port}"
            wait_until(http_ok(f"{base}/api/v1/health"), 30, "collector")
            now = int(time.time())
            samples = backfill(vm, now - 30)
            assert vm.process is not None and vm.process.proc is not None
            waited = wait_quiet(vm.process.proc.pid)
            print(
                f"backfilled {samples:,} samples: 24 h of {HOST} at {BACKFILL_INTERVAL_S} s "
                f"(VictoriaMetrics busy merging them for {waited:.0f} s)"
            )
            agent = ManagedProcess(
                [
                    console_script("hostvitals-agent"),
                    "--interval=1",
                    f"--collector-url={base}",
                    f"--state-dir={root / 'agent'}",
                    f"--host={HOST}",
                ],
                root / "agent.log",
                env={"HOSTVITALS_AGENT_FLUSH_INTERVAL": "1"},
            )
            agent.start()
            procs.append(agent)
            wait_until(
                http_ok(f"{base}/api/v1/metrics/current?host={HOST}"), 30, "the agent's first frame"
            )

            start, end = now - DAY_S, now
            step = 120  # 24 h over a 1000 px chart, rounded up to a whole "nice" step
            cpu = f'node_cpu_seconds_total{{host="{HOST}"'
            expr = (
                f'clamp_min(clamp_max(1 - sum by (host) (rate({cpu},mode="idle"}}[120s]))'
                f" / sum by (host) (rate({cpu}}}[120s])), 1), 0)"
            )
            range_q = urlencode({"query": expr, "start": start, "end": end, "step": step})
            family_q = urlencode({"host": HOST, "start": start, "end": end, "step": step})
            points = requests.get(f"{base}/api/v1/query_range?{range_q}", timeout=30).json()
            n_points = sum(len(r["values"]) for r in points["data"]["result"])
            print(f"24 h range query: {n_points} points at a {step} s step\n")

            fresh = "&nocache=1"  # skip the collector's query cache and VictoriaMetrics' own
            targets = [
                ("current (collector)", f"{base}/api/v1/metrics/current?host={HOST}"),
                ("cpu family 24 h (collector)", f"{base}/api/v1/metrics/cpu?{family_q}"),
                (
                    "cpu family 24 h, nocache (collector)",
                    f"{base}/api/v1/metrics/cpu?{family_q}{fresh}",
                ),
                ("range 24 h (collector)", f"{base}/api/v1/query_range?{range_q}"),
                ("range 24 h (VictoriaMetrics)", f"{vm.url}/api/v1/query_range?{range_q}"),
                ("range 24 h, nocache (collector)", f"{base}/api/v1/query_range?{range_q}{fresh}"),
                (
                    "range 24 h, nocache (VictoriaMetrics)",
                    f"{vm.url}/api/v1/query_range?{range_q}{fresh}",
                ),
            ]
            loads = []
            for name, url in targets:
                # Each load starts on an idle collector: requests wrk abandoned at the end of
                # the previous one (100 in flight) are still being answered for a moment.
                time.sleep(SETTLE_S)
                loads.append(wrk(url, args.duration, args.connections, name))
            print_table(
                [
                    (
                        x.name,
                        f"{x.p50_ms:.2f}",
                        f"{x.p99_ms:.2f}",
                        f"{x.rps:.0f}",
                        str(x.errors),
                    )
                    for x in loads
                ],
                ("endpoint", "p50 ms", "p99 ms", "req/s", "errors"),
            )
            for label, ours, theirs in (
                ("cached", loads[3], loads[4]),
                ("uncached (nocache=1)", loads[5], loads[6]),
            ):
                print(
                    f"\ncollector vs VictoriaMetrics, same 24 h range query, {label}: "
                    f"p50 x{ours.p50_ms / theirs.p50_ms:.2f}, "
                    f"p99 x{ours.p99_ms / theirs.p99_ms:.2f}, "
                    f"throughput x{ours.rps / theirs.rps:.2f}"
                )
            print(
                f"targets: current p99 {loads[0].p99_ms:.1f} ms (< 50), "
                f"24 h range p99 {loads[3].p99_ms:.1f} ms (< 200; "
                f"{loads[5].p99_ms:.1f} ms with every answer computed afresh)"
            )
            if not args.no_browser:
                seconds = host_page_seconds(base, args.page_runs)
                print(
                    f"\nhost page, 24 h range, until every chart is drawn: median "
                    f"{statistics.median(seconds) * 1000:.0f} ms over {len(seconds)} loads "
                    f"(min {min(seconds) * 1000:.0f}, max {max(seconds) * 1000:.0f})"
                )
        finally:
            for proc in reversed(procs):
                proc.stop()
            vm.stop()


if __name__ == "__main__":
    main()
