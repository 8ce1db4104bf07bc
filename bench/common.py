"""Helpers shared by the benchmarks: process metering and the repository on sys.path."""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import requests
from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def console_script(name: str) -> str:
    path = Path(sys.executable).parent / name
    if not path.exists():
        raise SystemExit(f"{name} is not installed next to {sys.executable}; run `make venv`")
    return str(path)


@dataclass
class Meter:
    """CPU and RSS of one process, read once a second by the benchmark loop."""

    name: str
    pid: int
    window_s: float = 10.0
    also: tuple[int, ...] = ()  # more processes counted as one (replicas of a service)
    _procs: list[psutil.Process] = field(init=False)
    _cpu: list[tuple[float, float]] = field(default_factory=list, init=False)
    _rss: list[int] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self._procs = [psutil.Process(pid) for pid in (self.pid, *self.also)]

    def read(self) -> None:
        cpu, rss = 0.0, 0
        for proc in self._procs:
            with proc.oneshot():
                times = proc.cpu_times()
                cpu += times.user + times.system
                rss += proc.memory_info().rss
        self._cpu.append((time.monotonic(), cpu))
        self._rss.append(rss)

    def cpu_percent_windows(self) -> list[float]:
        """CPU use in % of one core over consecutive windows of ``window_s``."""
        out: list[float] = []
        start = 0
        for i in range(1, len(self._cpu)):
            t0, c0 = self._cpu[start]
            t1, c1 = self._cpu[i]
            if t1 - t0 >= self.window_s:
                out.append(100.0 * (c1 - c0) / (t1 - t0))
                start = i
        return out

    def cpu_percent_median(self) -> float:
        windows = self.cpu_percent_windows()
        return statistics.median(windows) if windows else float("nan")

    def cpu_percent_overall(self) -> float:
        (t0, c0), (t1, c1) = self._cpu[0], self._cpu[-1]
        return 100.0 * (c1 - c0) / (t1 - t0)

    def rss_peak_mb(self) -> float:
        return max(self._rss) / 2**20

    def rss_median_mb(self) -> float:
        return statistics.median(self._rss) / 2**20


def meter_loop(meters: list[Meter], duration_s: float) -> None:
    """Read every meter once a second for ``duration_s``, on the second."""
    start = time.monotonic()
    tick = 0
    while True:
        for meter in meters:
            meter.read()
        tick += 1
        next_at = start + tick
        if next_at - start > duration_s:
            return
        time.sleep(max(0.0, next_at - time.monotonic()))


def wait_quiet(pid: int, below_percent: float = 10.0, limit_s: float = 120.0) -> float:
    """Wait until process ``pid`` uses less than ``below_percent`` of a core over a second
    (VictoriaMetrics merging freshly imported data, say), at most ``limit_s``; returns the
    seconds waited. A load started before that would share the cores with the merge."""
    proc = psutil.Process(pid)
    started = time.monotonic()
    proc.cpu_percent(None)
    while time.monotonic() - started < limit_s:
        time.sleep(1.0)
        if proc.cpu_percent(None) < below_percent:
            break
    return time.monotonic() - started


def print_table(rows: Sequence[tuple[str, ...]], header: tuple[str, ...]) -> None:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))


STALL_WATCH_MS = 0
"""The collector's ``server.stall_watch_ms`` in the benchmarks: off, as users run it.

The watch wakes the loop every 5 ms and samples every thread's stack while a tick is overdue,
which lengthens the very tail it measures: with it at 20 ms, the cached 24 h ``query_range``
load of ``bench/api_latency.py`` measured p99 463-1,080 ms against 51-60 ms with it off, and
about 15 % fewer requests per second. ``--stall-watch 20`` turns it on for an investigation;
figures from such a run are not the product's."""


def histogram_buckets(base_url: str, name: str) -> dict[float, float]:
    """A histogram of ``base_url/metrics``: cumulative count per upper bound, summed over its
    label sets."""
    text = requests.get(f"{base_url}/metrics", timeout=10).text
    out: dict[float, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name != name:
            continue
        for sample in family.samples:
            if sample.name == f"{name}_bucket":
                bound = float(sample.labels["le"])
                out[bound] = out.get(bound, 0.0) + sample.value
    return out


def share_over(
    before: dict[float, float], after: dict[float, float], bound: float
) -> tuple[float, int]:
    """Between two readings of a histogram: the share of observations above ``bound`` (one
    of its bucket bounds) and how many there were."""
    total = after.get(float("inf"), 0.0) - before.get(float("inf"), 0.0)
    within = after.get(bound, 0.0) - before.get(bound, 0.0)
    return ((total - within) / total if total else float("nan")), int(total)


def stall_report(base_url: str, since: float) -> dict[str, Any] | None:
    """The collector's ``/api/v1/debug/stalls`` from ``since`` on (None when it is off)."""
    try:
        answer = requests.get(
            f"{base_url}/api/v1/debug/stalls", params={"since": since}, timeout=10
        )
    except requests.RequestException:
        return None
    return answer.json() if answer.status_code == 200 else None


def print_stalls(title: str, report: dict[str, Any] | None, top: int = 4) -> None:
    """What the stall watch saw during one load: stalls by size; how the loop's thread spent
    them (computing, runnable with no core free, or waiting, which a busy loop does only for
    the interpreter lock); where it was; and the garbage collector's pauses in CPU time
    (which a busy machine does not inflate)."""
    if report is None:
        return
    stalls = report["stalls"]
    lags = sorted(s["lag_ms"] for s in stalls)
    pauses = report["gc_pauses"]
    total = sum(lags)
    cpu = sum(min(s["loop_cpu_ms"], s["lag_ms"]) for s in stalls)
    queued = sum(min(s.get("loop_runqueue_ms", 0.0), s["lag_ms"]) for s in stalls)
    print(
        f"  stalls during {title}: {len(stalls)} of >= {report['threshold_ms']:.0f} ms "
        f"(total {total:.0f} ms, max {max(lags, default=0):.0f} ms; "
        f"{sum(1 for s in stalls if s['gc_ms'] > 0)} with a GC pass); the loop's thread "
        f"meanwhile: {cpu:.0f} ms computing, {queued:.0f} ms runnable with no core free, "
        f"{max(0.0, total - cpu - queued):.0f} ms waiting (for the interpreter lock)"
    )
    if pauses:
        worst = max(pauses, key=lambda p: p["cpu_ms"])
        print(
            f"  GC pauses >= 1 ms: {len(pauses)}, {sum(p['cpu_ms'] for p in pauses):.0f} ms "
            f"of CPU in all; longest {worst['cpu_ms']:.0f} ms of CPU "
            f"({worst['ms']:.0f} ms wall, generation {worst['generation']}, "
            f"{worst['collected']:,} objects freed, in {worst['thread']})"
        )
    by_place: dict[str, list[float]] = {}
    for stall in stalls:
        stacks = stall["loop_stacks"]
        place = _place(stacks[0]) if stacks else "(not sampled)"
        by_place.setdefault(place, []).append(stall["lag_ms"])
    ranked = sorted(by_place.items(), key=lambda kv: -sum(kv[1]))[:top]
    for place, found in ranked:
        print(f"    {sum(found):6.0f} ms in {len(found):3d} stalls, loop in {place}")


def _place(stack: list[str]) -> str:
    """The innermost frame of the collector's own code, with the innermost frame of all."""
    ours = next((f for f in stack if f.startswith("hostvitals.")), None)
    if ours is None or ours == stack[0]:
        return stack[0]
    return f"{stack[0]} < ... < {ours}"
