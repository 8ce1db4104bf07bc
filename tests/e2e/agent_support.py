"""Helpers for the agent's delivery tests: reading back what reached VictoriaMetrics."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import requests

from tests.support.processes import VictoriaMetrics


def export(vm: VictoriaMetrics, match: str) -> list[dict[str, Any]]:
    """Every raw sample of the series matching ``match``, one dict per series."""
    vm.flush()
    response = requests.get(f"{vm.url}/api/v1/export", params={"match[]": match}, timeout=30)
    response.raise_for_status()
    return [json.loads(line) for line in response.text.splitlines() if line.strip()]


def timestamps(vm: VictoriaMetrics, host: str, metric: str = "node_load1") -> list[int]:
    """Timestamps (ms) of one series of ``host``, sorted, duplicates kept."""
    series = export(vm, f'{metric}{{host="{host}"}}')
    assert len(series) <= 1, series
    return sorted(series[0]["timestamps"]) if series else []


def counter_total(values: Iterable[float]) -> float:
    """How much a counter grew over ``values`` (in time order), across process restarts."""
    total = 0.0
    previous: float | None = None
    for value in values:
        if previous is None or value < previous:
            total += value  # first value, or a reset: the counter started again at zero
        else:
            total += value - previous
        previous = value
    return total


def counter(vm: VictoriaMetrics, host: str, metric: str, **labels: str) -> float:
    """Total growth of an agent counter of ``host`` (0 if it never appeared)."""
    selector = ",".join([f'host="{host}"', *(f'{k}="{v}"' for k, v in labels.items())])
    total = 0.0
    for series in export(vm, f"{metric}{{{selector}}}"):
        order = sorted(zip(series["timestamps"], series["values"], strict=True))
        total += counter_total(value for _, value in order)
    return total


def latest(vm: VictoriaMetrics, host: str, metric: str) -> float | None:
    series = export(vm, f'{metric}{{host="{host}"}}')
    if not series:
        return None
    _, value = max(zip(series[0]["timestamps"], series[0]["values"], strict=True))
    return float(value)


def legitimate_gaps(vm: VictoriaMetrics, host: str) -> int:
    """Ticks the agent itself reports it could not take: skipped ticks (starved of CPU) and
    ticks the load sampler missed. A gap in node_load1 must be one of these.
    """
    skipped = counter(vm, host, "hostvitals_agent_ticks_skipped_total")
    missed = counter(vm, host, "hostvitals_agent_sampler_missed_total", sampler="load")
    return int(skipped + missed)


def grid(start_ms: int, end_ms: int, step_ms: int = 1000) -> set[int]:
    """Tick times from ``start_ms`` to ``end_ms`` inclusive."""
    return set(range(start_ms, end_ms + 1, step_ms))


TICK_SERIES = ("node_load1", "hostvitals_agent_ticks_skipped_total")
"""One series of each sampler that runs in the full-spool test (load, and the agent's own)."""


def empty_spool_ticks(snapshot: list[dict[str, Any]]) -> list[int]:
    """The ticks (ms) at which the agent reported an empty spool: every frame of the ticks
    before each had been acknowledged (the gauge is read before the tick's own frame is
    spooled)."""
    return [
        ts
        for s in snapshot
        if s["metric"]["__name__"] == "hostvitals_agent_spool_frames"
        for ts, value in zip(s["timestamps"], s["values"], strict=True)
        if value == 0
    ]


def last_empty_spool(snapshot: list[dict[str, Any]]) -> int | None:
    """The newest of :func:`empty_spool_ticks`, if any."""
    return max(empty_spool_ticks(snapshot), default=None)


def settled_until(snapshot: list[dict[str, Any]], after_ms: int) -> int | None:
    """Up to which tick (ms) a reading of a host's series after an outage is complete and
    counts every drop; None while it is not.

    Complete: every series reached the tick after it (the agent sends on meanwhile, and the
    newest tick may be only partly written). Every drop counted: by then the agent reported an
    empty spool at a tick after ``after_ms``. The spool drops its oldest frame when the next
    one is appended, after that tick's samples were taken, so a drop shows in the drop counter
    of the tick after it; the first tick to report an empty spool is the first whose counter
    holds every drop, and it may well be the newest tick.
    """
    until = min(max(s["timestamps"]) for s in snapshot if s["metric"]["__name__"] in TICK_SERIES)
    until -= 1000
    drained = any(after_ms < ts <= until for ts in empty_spool_ticks(snapshot))
    return until if drained else None
