"""The PromQL (MetricsQL) behind each metric family of the history API.

Each family is a fixed list of :class:`NamedQuery`: a stable ``name`` that says what the line
is (``cpu_usage_ratio``, ``receive_bytes_per_second``) and the expression that computes it,
filtered to one host or to every host. Every expression keeps the ``host`` label.

Rates use a window of ``max(step, 2 * sample interval)`` in whole seconds. MetricsQL's
``rate()`` also uses the last sample before the window, so a window as long as the step covers
every increase exactly once and each point is the mean rate over its step; the floor of two
sample intervals keeps a point in every step when samples arrive late or early.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from hostvitals.collector.vm.promql import selector
from hostvitals.shared.catalogue import HOST_LABEL


class Family(StrEnum):
    CPU = "cpu"
    MEMORY = "memory"
    DISK = "disk"
    NETWORK = "network"
    PRESSURE = "pressure"
    SYSTEM = "system"
    SENSORS = "sensors"
    CGROUPS = "cgroups"
    DEVICES = "devices"


FAMILIES: tuple[str, ...] = tuple(f.value for f in Family)

DEFAULT_SAMPLE_INTERVAL_S = 1.0
"""The agent's default sampling interval."""


@dataclass(frozen=True, slots=True)
class NamedQuery:
    name: str
    expr: str


def rate_window(step: float, sample_interval_s: float = DEFAULT_SAMPLE_INTERVAL_S) -> str:
    """The range of a ``rate()`` at this step, e.g. ``"60s"``."""
    if not (math.isfinite(step) and step > 0):
        raise ValueError(f"step must be a positive number of seconds, not {step!r}")
    if not (math.isfinite(sample_interval_s) and sample_interval_s > 0):
        raise ValueError(f"sample interval must be positive, not {sample_interval_s!r}")
    return f"{max(math.ceil(step), math.ceil(2 * sample_interval_s))}s"


def _ratio(expr: str) -> str:
    """Keep a ratio in [0, 1]; timing jitter between counters and clocks can overshoot."""
    return f"clamp_min(clamp_max({expr}, 1), 0)"


def _cpu_share(host: str | None, w: str, by: str, mode: str | None) -> str:
    """The share of all CPU time spent in ``mode`` (every mode when None), per ``by``.

    Shares of all CPU time rather than of wall time: the modes' counters never add up to
    exactly one second per second (jitter, time not in any mode), and the live summary
    computes the same shares.
    """
    every = f"rate({selector('node_cpu_seconds_total', host)}[{w}])"
    part = f"rate({selector('node_cpu_seconds_total', host, mode=mode)}[{w}])" if mode else every
    return f"sum by ({by}) ({part}) / sum by ({by}) ({every})"


def cpu_usage_ratio(host: str | None, w: str, by: str = HOST_LABEL) -> str:
    """Busy CPU (everything but idle) as a ratio in [0, 1], per ``by``: the one definition
    the history, the fleet view and the CPU alert share."""
    return _ratio(f"1 - {_cpu_share(host, w, by, 'idle')}")


def _cpu(host: str | None, w: str) -> list[NamedQuery]:
    every = f"rate({selector('node_cpu_seconds_total', host)}[{w}])"
    return [
        NamedQuery("cpu_usage_ratio", cpu_usage_ratio(host, w)),
        NamedQuery(
            "cpu_mode_ratio",
            _ratio(
                f"sum by ({HOST_LABEL}, mode) ({every})"
                f" / on ({HOST_LABEL}) group_left sum by ({HOST_LABEL}) ({every})"
            ),
        ),
        NamedQuery("cpu_core_usage_ratio", cpu_usage_ratio(host, w, f"{HOST_LABEL}, cpu")),
        NamedQuery("load1", selector("node_load1", host)),
        NamedQuery("load5", selector("node_load5", host)),
        NamedQuery("load15", selector("node_load15", host)),
    ]


def _memory(host: str | None, w: str) -> list[NamedQuery]:
    def m(field: str) -> str:
        return selector(f"node_memory_{field}_bytes", host)

    return [
        NamedQuery("memory_total_bytes", m("MemTotal")),
        NamedQuery("memory_available_bytes", m("MemAvailable")),
        NamedQuery("memory_used_ratio", f"1 - {m('MemAvailable')} / ({m('MemTotal')} > 0)"),
        NamedQuery("memory_cached_bytes", m("Cached")),
        NamedQuery("memory_buffers_bytes", m("Buffers")),
        # No swap, no series: "> 0" drops hosts whose SwapTotal is zero.
        NamedQuery("swap_used_ratio", f"1 - {m('SwapFree')} / ({m('SwapTotal')} > 0)"),
        NamedQuery(
            "swap_in_bytes_per_second",
            f"rate({selector('hostvitals_swap_in_bytes_total', host)}[{w}])",
        ),
        NamedQuery(
            "swap_out_bytes_per_second",
            f"rate({selector('hostvitals_swap_out_bytes_total', host)}[{w}])",
        ),
    ]


def _disk(host: str | None, w: str) -> list[NamedQuery]:
    def rate(metric: str) -> str:
        return f"rate({selector(metric, host)}[{w}])"

    size = selector("node_filesystem_size_bytes", host)
    avail = selector("node_filesystem_avail_bytes", host)
    return [
        NamedQuery("read_bytes_per_second", rate("node_disk_read_bytes_total")),
        NamedQuery("write_bytes_per_second", rate("node_disk_written_bytes_total")),
        NamedQuery("reads_per_second", rate("node_disk_reads_completed_total")),
        NamedQuery("writes_per_second", rate("node_disk_writes_completed_total")),
        NamedQuery("io_utilisation_ratio", _ratio(rate("node_disk_io_time_seconds_total"))),
        # Pseudo filesystems report a size of zero; they have no meaningful used ratio.
        NamedQuery("filesystem_used_ratio", f"1 - {avail} / ({size} > 0)"),
        NamedQuery("filesystem_size_bytes", size),
        NamedQuery("filesystem_avail_bytes", avail),
    ]


def _network(host: str | None, w: str) -> list[NamedQuery]:
    def rate(metric: str) -> str:
        return f"rate({selector(metric, host)}[{w}])"

    return [
        NamedQuery(f"{direction}_{what}_per_second", rate(f"node_network_{direction}_{src}"))
        for direction in ("receive", "transmit")
        for what, src in (
            ("bytes", "bytes_total"),
            ("packets", "packets_total"),
            ("errors", "errs_total"),
            ("drops", "drop_total"),
        )
    ]


def _pressure(host: str | None, w: str) -> list[NamedQuery]:
    """Pressure stall information as shares of wall time: ``waiting`` is PSI's ``some``
    (at least one task waited), ``stalled`` its ``full`` (no task could run)."""

    def share(metric: str) -> str:
        return _ratio(f"rate({selector(metric, host)}[{w}])")

    return [
        NamedQuery(
            f"{resource}_{kind}_ratio", share(f"node_pressure_{resource}_{kind}_seconds_total")
        )
        for resource, kind in (
            ("cpu", "waiting"),
            ("memory", "waiting"),
            ("memory", "stalled"),
            ("io", "waiting"),
            ("io", "stalled"),
        )
    ]


def _system(host: str | None, w: str) -> list[NamedQuery]:
    def rate(metric: str) -> str:
        return f"rate({selector(metric, host)}[{w}])"

    allocated = selector("node_filefd_allocated", host)
    maximum = selector("node_filefd_maximum", host)
    return [
        NamedQuery("context_switches_per_second", rate("node_context_switches_total")),
        NamedQuery("interrupts_per_second", rate("node_intr_total")),
        NamedQuery("forks_per_second", rate("node_forks_total")),
        NamedQuery("procs_running", selector("node_procs_running", host)),
        NamedQuery("procs_blocked", selector("node_procs_blocked", host)),
        NamedQuery("filefd_allocated", allocated),
        NamedQuery("filefd_used_ratio", f"{allocated} / ({maximum} > 0)"),
        NamedQuery("tcp_established", selector("node_netstat_Tcp_CurrEstab", host)),
        NamedQuery("tcp_retransmits_per_second", rate("node_netstat_Tcp_RetransSegs")),
    ]


def _sensors(host: str | None, w: str) -> list[NamedQuery]:
    return [
        NamedQuery("temperature_celsius", selector("node_hwmon_temp_celsius", host)),
        NamedQuery("thermal_zone_celsius", selector("node_thermal_zone_temp", host)),
    ]


def _cgroups(host: str | None, w: str) -> list[NamedQuery]:
    """Per service or container (labels ``kind``, ``runtime``, ``name``): CPU in cores,
    memory, I/O and the share of time some of its tasks waited (PSI ``some``)."""

    def rate(metric: str) -> str:
        return f"rate({selector(metric, host)}[{w}])"

    return [
        NamedQuery("cpu_cores", rate("container_cpu_usage_seconds_total")),
        NamedQuery("memory_bytes", selector("container_memory_usage_bytes", host)),
        NamedQuery("working_set_bytes", selector("container_memory_working_set_bytes", host)),
        NamedQuery("read_bytes_per_second", rate("container_fs_reads_bytes_total")),
        NamedQuery("write_bytes_per_second", rate("container_fs_writes_bytes_total")),
        *(
            NamedQuery(
                f"{resource}_waiting_ratio",
                _ratio(rate(f"container_pressure_{resource}_waiting_seconds_total")),
            )
            for resource in ("cpu", "memory", "io")
        ),
    ]


def _devices(host: str | None, w: str) -> list[NamedQuery]:
    """Disks through SMART (label ``device``) and NVIDIA GPUs (labels ``gpu``, ``UUID``,
    ``modelName`` and the rest of dcgm-exporter's), from the optional ``smart`` and ``gpu``
    samplers: empty for a host that runs neither."""
    used = selector("DCGM_FI_DEV_FB_USED", host)
    free = selector("DCGM_FI_DEV_FB_FREE", host)
    return [
        NamedQuery(
            "disk_temperature_celsius",
            selector("smartctl_device_temperature", host, temperature_type="current"),
        ),
        NamedQuery(
            "disk_endurance_used_ratio",
            f"{selector('smartctl_device_percentage_used', host)} / 100",
        ),
        NamedQuery("gpu_utilisation_ratio", f"{selector('DCGM_FI_DEV_GPU_UTIL', host)} / 100"),
        NamedQuery("gpu_memory_used_ratio", _ratio(f"{used} / ({used} + {free} > 0)")),
        NamedQuery("gpu_temperature_celsius", selector("DCGM_FI_DEV_GPU_TEMP", host)),
        NamedQuery("gpu_power_watts", selector("DCGM_FI_DEV_POWER_USAGE", host)),
    ]


_BUILDERS: Mapping[Family, Callable[[str | None, str], list[NamedQuery]]] = MappingProxyType(
    {
        Family.CPU: _cpu,
        Family.MEMORY: _memory,
        Family.DISK: _disk,
        Family.NETWORK: _network,
        Family.PRESSURE: _pressure,
        Family.SYSTEM: _system,
        Family.SENSORS: _sensors,
        Family.CGROUPS: _cgroups,
        Family.DEVICES: _devices,
    }
)


def family_queries(
    family: Family | str,
    host: str | None,
    step: float,
    sample_interval_s: float = DEFAULT_SAMPLE_INTERVAL_S,
) -> tuple[NamedQuery, ...]:
    """The queries of ``family`` for one host (or every host when ``host`` is None)."""
    try:
        known = Family(family)
    except ValueError:
        raise ValueError(
            f"unknown metric family {family!r}; valid families: {', '.join(FAMILIES)}"
        ) from None
    return tuple(_BUILDERS[known](host, rate_window(step, sample_interval_s)))
