"""API latency: what the dashboard asks the collector, under 100 concurrent clients, on the
stack as ``make run`` starts it.

One run starts the full local stack (bench/stack.py): a VictoriaMetrics for the raw tier and
one per rollup tier, as deploy/local/run.sh starts them; the collector on the shipped
config/config.yaml (alerts and SLOs evaluating, the rollup job running); an agent reporting
at 1 s as the benchmark's host, whose 24 h of history are backfilled into every tier first.
Then it loads, with wrk (100 connections, a fixed time each, ``--latency``):

- ``GET /api/v1/metrics/current?host=...`` (the live view, from memory), and beside it the
  host's newest values straight from VictoriaMetrics (an instant query of its series);
- ``GET /api/v1/metrics/cpu`` over 24 h at the step a 1000 px chart asks for (six queries,
  answered by the 1m tier), as dashboards ask (from the query cache) and with ``nocache=1``,
  and beside it the same six queries as one MetricsQL ``union`` sent straight to that tier;
- one 24 h range query through the collector's ``/api/v1/query_range`` pass-through, and the
  same query sent straight to VictoriaMetrics in the same run: the ratio is the collector's
  overhead. Both as dashboards ask (100 screens on the same range share one answer from the
  collector's query cache, as VictoriaMetrics' own rollup cache shares its work) and with
  ``nocache=1`` (every request computed afresh on both sides).

The collector runs as make run starts it: on loopback with no credential, so every route
answers anyone on the machine (the access check still runs on every request). Its read rate
limits per address and per credential are off for the run: wrk's 100 connections stand for
100 dashboards but come from one address and share one (anonymous) principal, so with the
shipped limits most answers would be 429 and the figures would time the refusals. For the
same reason each connection gets its own share of VictoriaMetrics: one client's queries wait
their turn for one slot (``query.max_concurrent_per_client``), which 100 dashboards of 100
clients never meet but one principal would, so the limit is set to the number of connections.

Prints wrk's latency distribution (50/75/90/99 %) and requests per second of each load, the
ratios of the collector to VictoriaMetrics for the same data, what the collector's stall
watch saw during each of its loads (with ``--stall-watch MS``; off by default, as shipped,
because it lengthens the tail it reports), and (unless ``--no-browser``) how long the host page
takes in headless Chromium to show 24 h of data.
Targets: p99 under 50 ms for current, under 200 ms for a 24 h range.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import requests
from common import STALL_WATCH_MS, print_stalls, print_table, stall_report, wait_quiet
from stack import DAY_S, Stack, backfill
from wrk import PERCENTILES, Load, require_wrk, wrk

from hostvitals.collector.query.queries import family_queries
from tests.support.processes import http_ok, wait_until

HOST = "bench-host"
SETTLE_S = 5.0
UNLIMITED_READS = {  # see the module's docstring
    "HOSTVITALS__RATE_LIMITS__QUERY_PER_ADDRESS_PER_S": "0",
    "HOSTVITALS__RATE_LIMITS__QUERY_PER_CREDENTIAL_PER_S": "0",
}


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
    parser.add_argument(
        "--stall-watch",
        type=int,
        default=STALL_WATCH_MS,
        metavar="MS",
        help="the collector's server.stall_watch_ms (default 0: off, as shipped)",
    )
    args = parser.parse_args()
    require_wrk()

    with tempfile.TemporaryDirectory(prefix="hostvitals-bench-") as tmp:
        stack = Stack(Path(tmp))
        try:
            stack.start_victoria_metrics()
            now = int(time.time())
            samples = backfill(stack, HOST, now - 30)
            waited = sum(wait_quiet(t.process.pid) for t in stack.tiers)
            print(
                f"backfilled {samples:,} raw samples (24 h of {HOST} at 10 s) and their rollups "
                f"into {len(stack.tiers) - 1} rollup tiers "
                f"(VictoriaMetrics busy merging them for {waited:.0f} s)"
            )
            stack.start_collector(
                {
                    "HOSTVITALS__SERVER__STALL_WATCH_MS": str(args.stall_watch),
                    **UNLIMITED_READS,
                    # One slot per connection, as one per dashboard's client (see above).
                    "HOSTVITALS__QUERY__MAX_CONCURRENT_PER_CLIENT": str(args.connections),
                }
            )
            base = stack.collector_url
            stack.start_agent(HOST)
            wait_until(
                http_ok(f"{base}/api/v1/metrics/current?host={HOST}"), 60, "the agent's first frame"
            )
            loads, reports = run_loads(stack, now, args)
            report(loads, reports)
            if not args.no_browser:
                seconds = host_page_seconds(base, args.page_runs)
                print(
                    f"\nhost page, 24 h range, until every chart is drawn: median "
                    f"{statistics.median(seconds) * 1000:.0f} ms over {len(seconds)} loads "
                    f"(min {min(seconds) * 1000:.0f}, max {max(seconds) * 1000:.0f})"
                )
        finally:
            stack.stop()


# Each comparison: (what, the collector's load, VictoriaMetrics' load for the same data).
COMPARED = (
    ("current", "current (collector)", "current (VictoriaMetrics)"),
    ("cpu family 24 h", "cpu family 24 h (collector)", "cpu family 24 h (VictoriaMetrics)"),
    (
        "cpu family 24 h, nocache=1",
        "cpu family 24 h, nocache (collector)",
        "cpu family 24 h, nocache (VictoriaMetrics)",
    ),
    ("range 24 h", "range 24 h (collector)", "range 24 h (VictoriaMetrics)"),
    (
        "range 24 h, nocache=1",
        "range 24 h, nocache (collector)",
        "range 24 h, nocache (VictoriaMetrics)",
    ),
)


def run_loads(
    stack: Stack, now: int, args: argparse.Namespace
) -> tuple[dict[str, Load], dict[str, dict[str, Any] | None]]:
    base, vm_url = stack.collector_url, stack.raw.url
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
    family = requests.get(f"{base}/api/v1/metrics/cpu?{family_q}", timeout=30)
    data = family.json()["data"]
    tier = next(t for t in stack.tiers if t.name == data["tier"])
    # The family's queries as the collector sends them to the tier, in one request.
    union = ", ".join(
        q.expr for q in family_queries("cpu", HOST, data["step"], float(tier.resolution_s))
    )
    union_q = urlencode(
        {
            "query": f"union({union})",
            "start": data["start"],
            "end": data["end"],
            "step": data["step"],
        }
    )
    direct = requests.get(f"{tier.url}/api/v1/query_range?{union_q}", timeout=30)
    direct.raise_for_status()
    print(
        f"24 h range query: {n_points} points at a {step} s step; cpu family over 24 h: "
        f"{len(family.content) / 1024:.1f} KB from the {data['tier']} tier at a "
        f"{data['step']} s step (VictoriaMetrics' answer to the same queries: "
        f"{len(direct.content) / 1024:.1f} KB)\n"
    )
    current_q = urlencode({"query": f'{{host="{HOST}"}}'})

    fresh = "&nocache=1"  # skip the collector's query cache and VictoriaMetrics' own
    targets = [
        ("current (collector)", f"{base}/api/v1/metrics/current?host={HOST}"),
        ("current (VictoriaMetrics)", f"{vm_url}/api/v1/query?{current_q}"),
        ("cpu family 24 h (collector)", f"{base}/api/v1/metrics/cpu?{family_q}"),
        ("cpu family 24 h (VictoriaMetrics)", f"{tier.url}/api/v1/query_range?{union_q}"),
        ("cpu family 24 h, nocache (collector)", f"{base}/api/v1/metrics/cpu?{family_q}{fresh}"),
        (
            "cpu family 24 h, nocache (VictoriaMetrics)",
            f"{tier.url}/api/v1/query_range?{union_q}{fresh}",
        ),
        ("range 24 h (collector)", f"{base}/api/v1/query_range?{range_q}"),
        ("range 24 h (VictoriaMetrics)", f"{vm_url}/api/v1/query_range?{range_q}"),
        ("range 24 h, nocache (collector)", f"{base}/api/v1/query_range?{range_q}{fresh}"),
        ("range 24 h, nocache (VictoriaMetrics)", f"{vm_url}/api/v1/query_range?{range_q}{fresh}"),
    ]
    loads: dict[str, Load] = {}
    reports: dict[str, dict[str, Any] | None] = {}
    for name, url in targets:
        # Each load starts on an idle collector: requests wrk abandoned at the end of the
        # previous one (100 in flight) are still being answered for a moment.
        time.sleep(SETTLE_S)
        load = wrk(url, args.duration, args.connections, name)
        loads[name] = load
        if url.startswith(base):
            reports[name] = stall_report(base, load.started_at)
    return loads, reports


def report(loads: dict[str, Load], reports: dict[str, dict[str, Any] | None]) -> None:
    print_table(
        [
            (
                x.name,
                *(f"{x.percentiles_ms[p]:.2f}" for p in PERCENTILES),
                f"{x.rps:.0f}",
                str(x.errors),
            )
            for x in loads.values()
        ],
        ("endpoint", *(f"p{p} ms" for p in PERCENTILES), "req/s", "errors"),
    )
    print()
    for name, found in reports.items():
        print_stalls(name, found, top=2)
    print()
    for label, ours_name, theirs_name in COMPARED:
        ours, theirs = loads[ours_name], loads[theirs_name]
        print(
            f"collector / VictoriaMetrics direct, {label}: "
            f"p50 x{ours.p50_ms / theirs.p50_ms:.2f}, "
            f"p99 x{ours.p99_ms / theirs.p99_ms:.2f}, "
            f"throughput x{ours.rps / theirs.rps:.2f}"
        )
    print(
        f"targets: current p99 {loads['current (collector)'].p99_ms:.1f} ms (< 50), "
        f"cpu family 24 h p99 {loads['cpu family 24 h (collector)'].p99_ms:.1f} ms (< 200; "
        f"{loads['cpu family 24 h, nocache (collector)'].p99_ms:.1f} ms with every answer "
        f"computed afresh), range 24 h p99 {loads['range 24 h (collector)'].p99_ms:.1f} ms (< 200)"
    )


if __name__ == "__main__":
    main()
