"""What a host is, from its ``*_info`` series in the live view: the distribution, kernel, CPU
model, boot time and agent version, and whether that agent is older than this collector.

Label values change rarely (an upgrade, a reboot); while a changed series is still in the live
view next to its predecessor, the newest one wins.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Final

from hostvitals.collector.live.current import SeriesPoint

INFO_LABELS: Final = {
    "os": ("node_os_info", "pretty_name"),
    "kernel": ("node_uname_info", "release"),
    "cpu_model": ("hostvitals_cpu_info", "model_name"),
    "agent_version": ("hostvitals_agent_build_info", "version"),
}
BOOT_TIME: Final = "node_boot_time_seconds"
INVENTORY_METRICS: Final = frozenset({BOOT_TIME, *(metric for metric, _ in INFO_LABELS.values())})
"""The series :func:`inventory` reads."""

_RELEASE = re.compile(r"^v?(\d+(?:\.\d+)*)(?:[-_.]?(a|b|rc|alpha|beta|c|pre|dev)\.?(\d*))?")
_PRE_RANK: Final = {"dev": 0, "a": 1, "alpha": 1, "b": 2, "beta": 2, "c": 3, "rc": 3, "pre": 3}


def inventory(points: Iterable[SeriesPoint], collector_version: str) -> dict[str, Any]:
    """``os``, ``kernel``, ``cpu_model``, ``agent_version`` (None when not reported),
    ``boot_time`` (Unix seconds or None) and ``agent_outdated``: True when the agent's version
    is older than ``collector_version``, None when either cannot be compared."""
    newest: dict[str, SeriesPoint] = {}
    boot: SeriesPoint | None = None
    wanted = {metric for metric, _ in INFO_LABELS.values()}
    for point in points:
        if point.metric == BOOT_TIME:
            if boot is None or point.timestamp_ms > boot.timestamp_ms:
                boot = point
        elif point.metric in wanted:
            seen = newest.get(point.metric)
            if seen is None or point.timestamp_ms > seen.timestamp_ms:
                newest[point.metric] = point
    out: dict[str, Any] = {}
    for key, (metric, label) in INFO_LABELS.items():
        found = newest.get(metric)
        out[key] = (found.labels.get(label) or None) if found is not None else None
    out["boot_time"] = float(boot.value) if boot is not None else None
    agent = out["agent_version"]
    out["agent_outdated"] = None if agent is None else is_older(agent, collector_version)
    return out


def release_key(version: str) -> tuple[tuple[int, ...], tuple[int, int]] | None:
    """A sort key of a version such as ``1.2.0``, ``1.3.0rc1`` or ``0.1.0+local``: its
    release numbers (trailing zeros dropped), then its pre-release (a final release sorts
    after its pre-releases). None when it does not start with a number."""
    match = _RELEASE.match(version.strip())
    if match is None:
        return None
    numbers = [int(n) for n in match[1].split(".")]
    while len(numbers) > 1 and numbers[-1] == 0:
        numbers.pop()
    tag = match[2]
    pre = (_PRE_RANK[tag], int(match[3] or 0)) if tag else (9, 0)
    return tuple(numbers), pre


def is_older(agent: str, collector: str) -> bool | None:
    """Whether version ``agent`` comes before version ``collector``; None when either is not
    a version (``0+unknown`` from a bare checkout compares as 0)."""
    mine, theirs = release_key(agent), release_key(collector)
    if mine is None or theirs is None or theirs == ((0,), (9, 0)):
        return None
    return mine < theirs
