"""Build valid frames from the metric catalogue for tests and benchmarks.

``catalogue_frame("web-1", ticks_ending_now(3))`` is a frame with every metric of the
catalogue, plausible label sets (two CPUs, two disks, two filesystems, two processes...) and
deterministic values: counters grow by a fixed step per tick, gauges are constant.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Sequence

from hostvitals.shared.catalogue import CATALOGUE, Kind, MetricSpec
from hostvitals.shared.codec import encode_frame
from hostvitals.shared.protocol import Frame, Series, Value

ValueFn = Callable[[MetricSpec, dict[str, str], int], Value]

CPU_MODES = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")

_GROUP_LABEL_SETS: dict[tuple[str, tuple[str, ...]], list[dict[str, str]]] = {
    ("cpu", ("cpu", "mode")): [
        {"cpu": cpu, "mode": mode} for cpu, mode in itertools.product(("0", "1"), CPU_MODES)
    ],
    ("disk", ("device",)): [{"device": "sda"}, {"device": "nvme0n1"}],
    ("network", ("device",)): [{"device": "eth0"}, {"device": "wlan0"}],
    ("filesystem", ("device", "mountpoint", "fstype")): [
        {"device": "/dev/sda1", "mountpoint": "/", "fstype": "ext4"},
        {"device": "/dev/sdb1", "mountpoint": "/data", "fstype": "xfs"},
    ],
    ("processes", ("pid", "name", "user")): [
        {"pid": "1", "name": "systemd", "user": "root"},
        {"pid": "4242", "name": "postgres", "user": "postgres"},
        {"pid": "777", "name": "python3", "user": "app"},
    ],
    ("agent", ("sampler",)): [{"sampler": "cpu"}, {"sampler": "memory"}],
    ("agent", ("reason",)): [{"reason": "timeout"}],
}

# Gauges with a meaningful constant; anything else gets 1.0.
_GAUGES: dict[str, float | int] = {
    "node_cpu_count": 2,
    "node_load1": 0.5,
    "node_load5": 0.25,
    "node_load15": 0.125,
    "node_memory_MemTotal_bytes": 8 * 2**30,
    "node_memory_MemAvailable_bytes": 6 * 2**30,
    "node_memory_MemFree_bytes": 2 * 2**30,
    "node_memory_Buffers_bytes": 2**28,
    "node_memory_Cached_bytes": 2**30,
    "node_memory_Shmem_bytes": 2**26,
    "node_memory_SwapTotal_bytes": 2 * 2**30,
    "node_memory_SwapFree_bytes": 2**30,
    "node_filesystem_size_bytes": 100 * 2**30,
    "node_filesystem_free_bytes": 40 * 2**30,
    "node_filesystem_avail_bytes": 35 * 2**30,
}

_CPU, _RSS = "hostvitals_process_cpu_usage_ratio", "hostvitals_process_resident_memory_bytes"
PROCESS_VALUES: dict[str, dict[str, float | int]] = {
    "1": {_CPU: 0.01, _RSS: 12 * 2**20},
    "4242": {_CPU: 0.4, _RSS: 300 * 2**20},
    "777": {_CPU: 0.9, _RSS: 120 * 2**20},
}
"""Per pid: python3 (777) leads by CPU, postgres (4242) by memory."""


def label_sets(spec: MetricSpec) -> list[dict[str, str]]:
    """The label sets a test frame carries for ``spec``."""
    if not spec.labels:
        return [{}]
    found = _GROUP_LABEL_SETS.get((spec.group, spec.labels))
    if found is None:
        return [{name: f"{name}-0" for name in spec.labels}]
    return [dict(labels) for labels in found]


def default_value(spec: MetricSpec, labels: dict[str, str], tick: int) -> Value:
    """Counters: ``1000 + 10 * tick`` (idle CPU grows 3x faster); gauges: a constant;
    processes: ``PROCESS_VALUES``."""
    if spec.kind is Kind.COUNTER:
        step = 30 if labels.get("mode") == "idle" else 10
        return 1000 + step * tick
    if spec.group == "processes":
        return PROCESS_VALUES[labels["pid"]][spec.name]
    return _GAUGES.get(spec.name, 1.0)


def catalogue_series(
    ticks: int,
    *,
    values: ValueFn = default_value,
    metrics: Iterable[str] | None = None,
) -> list[Series]:
    names = list(metrics) if metrics is not None else list(CATALOGUE)
    series = []
    for name in names:
        spec = CATALOGUE[name]
        for labels in label_sets(spec):
            series.append(Series(name, labels, [values(spec, labels, i) for i in range(ticks)]))
    return series


def catalogue_frame(
    host: str,
    timestamps_ms: Sequence[int],
    *,
    agent_id: str = "test-agent",
    seq: int = 0,
    interval_s: float = 1.0,
    values: ValueFn = default_value,
    metrics: Iterable[str] | None = None,
) -> Frame:
    """A valid frame with every catalogue metric (or only ``metrics``)."""
    ticks = list(timestamps_ms)
    return Frame(
        agent_id=agent_id,
        host=host,
        seq=seq,
        sent_at_ms=ticks[-1],
        interval_s=interval_s,
        timestamps_ms=ticks,
        series=catalogue_series(len(ticks), values=values, metrics=metrics),
    )


def ticks_ending_now(count: int, interval_s: float = 1.0, end_ms: int | None = None) -> list[int]:
    """``count`` tick timestamps ``interval_s`` apart, the last at ``end_ms`` (default: now)."""
    end = end_ms if end_ms is not None else int(time.time() * 1000)
    step = int(interval_s * 1000)
    return [end - step * (count - 1 - i) for i in range(count)]


def encoded(frame: Frame) -> bytes:
    return encode_frame(frame)
