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
