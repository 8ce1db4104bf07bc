"""One experiment, start to end: a fresh private stack, the steady-state check, the fault
for its duration, the recovery, and the measurements (:class:`Result`)."""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import requests

from hostvitals.chaos.accounting import (
    TierCount,
    Window,
    counter_growth,
    raw_count,
    raw_stamps,
    raw_timestamps,
    rollup_count,
)
from hostvitals.chaos.experiments import Experiment, Profile
from hostvitals.chaos.faults import Kill
from hostvitals.chaos.monitor import Monitor
from hostvitals.chaos.procs import pause, shielded, wait_until
from hostvitals.chaos.stack import Stack, StackShape

RECOVERY_LIMIT_S = 30.0
COLLECTOR_GROWTH_LIMIT_MB = 128.0
AGENT_GROWTH_LIMIT_MB = 32.0
SKIP_METRICS = (
    ("hostvitals_agent_ticks_skipped_total", ""),
    ("hostvitals_agent_sampler_missed_total", 'sampler="load"'),
)


@dataclass
class Result:
    experiment: str
    hypothesis: str
    fault: str
    fault_s: float
    expected_samples: int = 0
    lost_samples: int = 0
    duplicated_samples: int = 0
    recovery_s: float | None = None
    passed: bool = False
    tiers: dict[str, dict[str, int]] = field(default_factory=dict)
    answers: dict[str, int] = field(default_factory=dict)
    answers_503_without_retry_after: int = 0
    spool_high_water_bytes: int = 0
    collector_rss_growth_mb: float = 0.0
    agent_rss_growth_mb: float = 0.0
    write_queue_peak_bytes: int = 0
    max_staleness_s: float = 0.0
    skipped_ticks: int = 0
    dropped_ticks: int = 0
    """Ticks the agent counted as dropped under a reason the hypothesis allows."""
    dropped_samples: int = 0
    failures: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def now_ms() -> int:
    return int(time.time() * 1000)


def _agents_report(stack: Stack, since_ms: int) -> bool:
    for agent in stack.agents:
        if not agent.child.running():
            raise RuntimeError(f"agent {agent.host} exited:\n{agent.child.log_tail()}")
        stamps = raw_timestamps(stack.raw, agent.host)
        if not stamps or stamps[-1] < since_ms:
            return False
    health = requests.get(f"{stack.collector_url}/api/v1/health", timeout=2)
    return health.status_code == 200


def steady_state(stack: Stack) -> int:
    """Wait for every agent to deliver a tick taken after now; returns that time (ms)."""
    since = now_ms()
    wait_until(lambda: _agents_report(stack, since), 60, "the steady state", step=0.5)
    return since


def _skipped(stack: Stack, host: str, start_ms: int, end_ms: int) -> int:
    total = 0.0
    for metric, labels in SKIP_METRICS:
        selector = ",".join(x for x in (f'host="{host}"', labels) if x)
        total += counter_growth(stack.raw, f"{metric}{{{selector}}}", start_ms, end_ms)
    return int(total)


class Timeline:
    """Which ticks an agent was expected to take: from its first tick to the cut, less the
    ones it did not take while it was killed (from the tick it was taking to its first tick
    after the restart)."""

    def __init__(
        self, interval_ms: int, start_ms: int, counted_drops: tuple[str, ...] = ()
    ) -> None:
        self.interval_ms = interval_ms
        self.start_ms = -(-start_ms // interval_ms) * interval_ms
        self.down: tuple[int, int] | None = None
        self.counted_drops = counted_drops

    def window(self, stack: Stack, host: str, end_ms: int, killed: bool) -> Window:
        stamps = raw_timestamps(stack.raw, host)
        ticks = set(range(self.start_ms, end_ms + 1, self.interval_ms))
        if killed and self.down is not None:
            killed_ms, restarted_ms = self.down
            after = [ts for ts in stamps if ts > restarted_ms]
            resumed = after[0] if after else end_ms + 1
            # a tick of that span that did arrive was taken, and counts (duplicates too)
            ticks -= set(range(killed_ms - self.interval_ms, resumed)) - set(stamps)
        skipped = _skipped(stack, host, self.start_ms, end_ms + 10 * self.interval_ms)
        dropped = self.dropped(stack, host, end_ms)
        if dropped is not None:
            skipped += dropped[0]
        return Window(host, frozenset(ticks), skipped)

    def dropped(self, stack: Stack, host: str, end_ms: int) -> tuple[int, int, int] | None:
        """Ticks the agent counted as dropped under ``counted_drops``: (ticks, samples, samples
        per tick); None if the experiment allows no drops."""
        if not self.counted_drops:
            return None
        samples = 0.0
        for reason in self.counted_drops:
            selector = f'hostvitals_agent_dropped_samples_total{{host="{host}",reason="{reason}"}}'
            samples += counter_growth(
                stack.raw, selector, self.start_ms, end_ms + 10 * self.interval_ms
            )
        per_tick = _samples_per_tick(stack, host)
        return (int(samples) // per_tick if per_tick else 0), int(samples), per_tick


def _samples_per_tick(stack: Stack, host: str) -> int:
    """The samples the agent delivers per tick (the most common count: it samples the same
    series every tick here)."""
    per_ts: Counter[int] = Counter(
        ts for doc in stack.raw.export(f'{{host="{host}"}}') for ts in doc["timestamps"]
    )
    common = Counter(per_ts.values()).most_common(1)
    return common[0][0] if common else 0


def _dead_agents(stack: Stack) -> list[str]:
    dead = []
    for agent in stack.agents:
        if not agent.child.running():
            lines = agent.child.log_tail(200).splitlines()
            errors = [
                line for line in lines if line.startswith(("OSError", "Error")) or " ERROR " in line
            ]
            why = errors[-1] if errors else (lines[-1] if lines else "no output")
            dead.append(f"agent {agent.host} exited: {why}")
    return dead


def _caught_up(stack: Stack, timeline: Timeline, until_ms: int, killed: bool) -> bool:
    for index, agent in enumerate(stack.agents):
        window = timeline.window(stack, agent.host, until_ms, killed and index == 0)
        if raw_count(stack.raw, window).lost:
            return False
    return True


def run(experiment: Experiment, profile: Profile) -> Result:
    fault = experiment.fault(profile)
    result = Result(experiment.name, experiment.hypothesis, fault.describe(), profile.fault_s)
    shape = StackShape(tiers=profile.tiers, spool_fs_bytes=experiment.spool_fs_bytes)
    killed_agent = isinstance(fault, Kill) and fault.target == "agent"
    with Stack.open(shape, uuid.uuid4().hex[:8]) as stack:
        interval_ms = shape.interval_s * 1000
        monitor = Monitor(stack)
        monitor.start()
        steady_state(stack)
        first = min(raw_timestamps(stack.raw, a.host)[0] for a in stack.agents)
        timeline = Timeline(interval_ms, first, experiment.counted_drops)
        pause(profile.warmup_s)
        before = stack.proxy.answers.snapshot()
        monitor.faulted = True
        began = now_ms()
        fault.begin(stack)
        try:
            pause(profile.fault_s)
        finally:
            with shielded():
                fault.end(stack)
        ended = now_ms()
        timeline.down = (began, ended)
        deadline = time.monotonic() + profile.recovery_timeout_s
        while time.monotonic() < deadline:
            if dead := _dead_agents(stack):
                result.failures.extend(dead)
                break
            if _caught_up(stack, timeline, ended - interval_ms, killed_agent):
                result.recovery_s = round((now_ms() - ended) / 1000, 1)
                break
            pause(0.25)
        answers = stack.proxy.answers.since(before)
        peaks = monitor.stop()
        pause(profile.after_s)
        cut = now_ms() - 2 * interval_ms
        if result.failures:  # an agent died: measure what is there without waiting for more
            profile = dataclasses.replace(profile, recovery_timeout_s=0)
        _measure(stack, result, timeline, cut, killed_agent, profile, began)
        result.answers = {str(code): n for code, n in sorted(answers.codes.items())}
        result.answers_503_without_retry_after = sum(answers.without_retry_after.values())
        c_growth, a_growth = peaks.growth_mb()
        result.collector_rss_growth_mb = round(c_growth, 1)
        result.agent_rss_growth_mb = round(a_growth, 1)
        result.write_queue_peak_bytes = int(peaks.write_queue_bytes)
        result.max_staleness_s = round(peaks.staleness_s, 1)
    _judge(result)
    return result


def _measure(
    stack: Stack,
    result: Result,
    timeline: Timeline,
    cut: int,
    killed_agent: bool,
    profile: Profile,
    began: int,
) -> None:
    interval_ms = timeline.interval_ms
    windows = [
        timeline.window(stack, a.host, cut, killed_agent and i == 0)
        for i, a in enumerate(stack.agents)
    ]
    deadline = time.monotonic() + profile.recovery_timeout_s
    while not _caught_up(stack, timeline, cut, killed_agent) and time.monotonic() < deadline:
        pause(0.5)
    totals = {"raw": TierCount()}
    for window in windows:
        count = raw_count(stack.raw, window)
        totals["raw"].add(count)
        result.skipped_ticks += window.skipped
        got = set(raw_timestamps(stack.raw, window.host))
        missing = sorted(window.ticks - got)
        if count.lost:
            result.failures.append(f"{window.host} lacks ticks {missing[:5]} (of {len(missing)})")
        dropped = timeline.dropped(stack, window.host, cut)
        if dropped is not None:
            ticks, samples, per_tick = dropped
            result.dropped_ticks += ticks
            result.skipped_ticks -= ticks  # counted above with the ticks it did not take
            result.dropped_samples += samples
            reported = window.skipped - ticks  # the ticks it says it did not take
            if samples != ticks * per_tick or ticks != max(0, len(missing) - reported):
                result.failures.append(
                    f"{window.host} counted {samples} samples dropped ({per_tick} a tick) "
                    f"but lacks {len(missing)} ticks ({reported} not taken)"
                )
    coarsest = max(s.resolution_s for s in stack.tiers)
    deadline = time.monotonic() + coarsest + 15
    for tier in stack.tiers:
        while True:
            count = TierCount()
            for window in windows:
                count.add(rollup_count(tier, window, interval_ms, raw_stamps(stack.raw, window)))
            if count.lost == 0 or time.monotonic() > deadline:
                break
            pause(0.5)
        totals[tier.name] = count
    result.tiers = {name: vars(c).copy() for name, c in totals.items()}
    result.expected_samples = sum(c.expected for c in totals.values())
    result.lost_samples = sum(c.lost for c in totals.values())
    result.duplicated_samples = sum(c.duplicated for c in totals.values())
    high = 0.0
    for agent in stack.agents:
        for doc in stack.raw.export(f'hostvitals_agent_spool_bytes{{host="{agent.host}"}}'):
            for ts, value in zip(doc["timestamps"], doc["values"], strict=True):
                if ts >= began:
                    high = max(high, float(value))
    result.spool_high_water_bytes = int(high)


def _judge(result: Result) -> None:
    failures = result.failures
    for what in ("lost", "duplicated"):
        total = getattr(result, f"{what}_samples")
        if total:
            where = ", ".join(f"{t} {c[what]}" for t, c in result.tiers.items() if c[what])
            failures.append(f"{total} samples {what}" + (f" ({where})" if where else ""))
    if result.recovery_s is None:
        failures.append("never caught up")
    elif result.recovery_s > RECOVERY_LIMIT_S:
        failures.append(f"recovery {result.recovery_s} s > {RECOVERY_LIMIT_S:g} s")
    errors = {c: n for c, n in result.answers.items() if c.startswith("5") and c != "503"}
    if errors:
        failures.append(f"collector answered {errors}")
    if result.answers_503_without_retry_after:
        failures.append(f"{result.answers_503_without_retry_after} 503s without Retry-After")
    if result.collector_rss_growth_mb > COLLECTOR_GROWTH_LIMIT_MB:
        failures.append(f"collector RSS grew {result.collector_rss_growth_mb} MB")
    if result.agent_rss_growth_mb > AGENT_GROWTH_LIMIT_MB:
        failures.append(f"agent RSS grew {result.agent_rss_growth_mb} MB")
    result.passed = not failures
