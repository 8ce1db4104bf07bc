"""The metric catalogue: every series the agent emits, as data.

Names follow the Prometheus conventions and reuse node_exporter's names and label names
where node_exporter has the same measurement, so existing queries and habits carry over.
The collector adds the ``host`` label to every series; agents never send it.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from hostvitals.shared.catalogue_devices import DEVICE_SPECS
from hostvitals.shared.catalogue_host import HOST_SPECS
from hostvitals.shared.metricspec import Kind, MetricSpec

__all__ = ["CATALOGUE", "HOST_LABEL", "Kind", "MetricSpec", "groups", "metrics_of"]

HOST_LABEL = "host"
"""Label the collector adds to every series; reserved, agents must not send it."""

_G, _C = Kind.GAUGE, Kind.COUNTER

_SPECS: tuple[MetricSpec, ...] = (
    # cpu
    MetricSpec(
        "node_cpu_seconds_total",
        _C,
        "seconds",
        "Seconds each CPU spent in each mode.",
        ("cpu", "mode"),
        "cpu",
    ),
    MetricSpec("node_cpu_count", _G, "cpus", "Number of logical CPUs.", (), "cpu"),
    # load
    MetricSpec("node_load1", _G, "", "1-minute load average.", (), "load"),
    MetricSpec("node_load5", _G, "", "5-minute load average.", (), "load"),
    MetricSpec("node_load15", _G, "", "15-minute load average.", (), "load"),
    # memory and swap
    MetricSpec("node_memory_MemTotal_bytes", _G, "bytes", "Total usable memory.", (), "memory"),
    MetricSpec(
        "node_memory_MemAvailable_bytes",
        _G,
        "bytes",
        "Memory available for new work without swapping.",
        (),
        "memory",
    ),
    MetricSpec("node_memory_MemFree_bytes", _G, "bytes", "Unused memory.", (), "memory"),
    MetricSpec("node_memory_Buffers_bytes", _G, "bytes", "Memory in kernel buffers.", (), "memory"),
    MetricSpec("node_memory_Cached_bytes", _G, "bytes", "Memory in the page cache.", (), "memory"),
    MetricSpec("node_memory_Shmem_bytes", _G, "bytes", "Shared memory (tmpfs etc.).", (), "memory"),
    MetricSpec("node_memory_SwapTotal_bytes", _G, "bytes", "Total swap space.", (), "memory"),
    MetricSpec("node_memory_SwapFree_bytes", _G, "bytes", "Unused swap space.", (), "memory"),
    MetricSpec(
        "hostvitals_swap_in_bytes_total", _C, "bytes", "Bytes swapped in from disk.", (), "memory"
    ),
    MetricSpec(
        "hostvitals_swap_out_bytes_total", _C, "bytes", "Bytes swapped out to disk.", (), "memory"
    ),
    # disk I/O
    MetricSpec(
        "node_disk_reads_completed_total", _C, "operations", "Reads completed.", ("device",), "disk"
    ),
    MetricSpec(
        "node_disk_writes_completed_total",
        _C,
        "operations",
        "Writes completed.",
        ("device",),
        "disk",
    ),
    MetricSpec("node_disk_read_bytes_total", _C, "bytes", "Bytes read.", ("device",), "disk"),
    MetricSpec("node_disk_written_bytes_total", _C, "bytes", "Bytes written.", ("device",), "disk"),
    MetricSpec(
        "node_disk_read_time_seconds_total",
        _C,
        "seconds",
        "Seconds spent by all reads.",
        ("device",),
        "disk",
    ),
    MetricSpec(
        "node_disk_write_time_seconds_total",
        _C,
        "seconds",
        "Seconds spent by all writes.",
        ("device",),
        "disk",
    ),
    MetricSpec(
        "node_disk_io_time_seconds_total",
        _C,
        "seconds",
        "Seconds the device was busy doing I/O.",
        ("device",),
        "disk",
    ),
    # filesystems
    MetricSpec(
        "node_filesystem_size_bytes",
        _G,
        "bytes",
        "Filesystem size.",
        ("device", "mountpoint", "fstype"),
        "filesystem",
    ),
    MetricSpec(
        "node_filesystem_free_bytes",
        _G,
        "bytes",
        "Free space, including reserved blocks.",
        ("device", "mountpoint", "fstype"),
        "filesystem",
    ),
    MetricSpec(
        "node_filesystem_avail_bytes",
        _G,
        "bytes",
        "Space available to unprivileged users.",
        ("device", "mountpoint", "fstype"),
        "filesystem",
    ),
    # network
    MetricSpec(
        "node_network_receive_bytes_total", _C, "bytes", "Bytes received.", ("device",), "network"
    ),
    MetricSpec(
        "node_network_transmit_bytes_total", _C, "bytes", "Bytes sent.", ("device",), "network"
    ),
    MetricSpec(
        "node_network_receive_packets_total",
        _C,
        "packets",
        "Packets received.",
        ("device",),
        "network",
    ),
    MetricSpec(
        "node_network_transmit_packets_total",
        _C,
        "packets",
        "Packets sent.",
        ("device",),
        "network",
    ),
    MetricSpec(
        "node_network_receive_errs_total", _C, "errors", "Receive errors.", ("device",), "network"
    ),
    MetricSpec(
        "node_network_transmit_errs_total", _C, "errors", "Transmit errors.", ("device",), "network"
    ),
    MetricSpec(
        "node_network_receive_drop_total",
        _C,
        "packets",
        "Incoming packets dropped.",
        ("device",),
        "network",
    ),
    MetricSpec(
        "node_network_transmit_drop_total",
        _C,
        "packets",
        "Outgoing packets dropped.",
        ("device",),
        "network",
    ),
    # pressure, kernel counters, sockets and what the host is (catalogue_host)
    *HOST_SPECS,
    # top-N processes (by CPU and by memory)
    MetricSpec(
        "hostvitals_process_cpu_usage_ratio",
        _G,
        "cores",
        "CPU used by a top process since its previous sample, as a share of one core "
        "(a busy multi-threaded process can exceed 1).",
        ("pid", "name", "user"),
        "processes",
    ),
    MetricSpec(
        "hostvitals_process_resident_memory_bytes",
        _G,
        "bytes",
        "Resident memory of a top process.",
        ("pid", "name", "user"),
        "processes",
    ),
    # disk health (SMART) and GPUs, from the optional samplers (catalogue_devices)
    *DEVICE_SPECS,
    # the agent's own health
    MetricSpec(
        "hostvitals_agent_sampler_duration_seconds",
        _G,
        "seconds",
        "Wall time the last run of each sampler took.",
        ("sampler",),
        "agent",
    ),
    MetricSpec(
        "hostvitals_agent_sampler_errors_total",
        _C,
        "errors",
        "Sampler runs that raised.",
        ("sampler",),
        "agent",
    ),
    MetricSpec(
        "hostvitals_agent_sampler_missed_total",
        _C,
        "runs",
        "Ticks a sampler missed because its previous run was still going.",
        ("sampler",),
        "agent",
    ),
    MetricSpec(
        "hostvitals_agent_sampler_unavailable",
        _G,
        "boolean",
        "1 while an optional sampler cannot run (its tool, library or devices are missing).",
        ("sampler", "reason"),
        "agent",
    ),
    MetricSpec(
        "hostvitals_agent_sampler_capped",
        _G,
        "devices",
        "Devices a sampler found but left out on its last look, because of its limit.",
        ("sampler",),
        "agent",
    ),
    MetricSpec(
        "hostvitals_agent_device_read_errors_total",
        _C,
        "errors",
        "Reads of one device (a disk, a GPU field) that failed, by sampler and reason.",
        ("sampler", "reason"),
        "agent",
    ),
    MetricSpec(
        "hostvitals_agent_ticks_skipped_total",
        _C,
        "ticks",
        "Ticks skipped because the host was suspended or the agent starved of CPU.",
        (),
        "agent",
    ),
    MetricSpec(
        "hostvitals_agent_filesystem_unreadable_total",
        _C,
        "errors",
        "Mounts whose usage could not be read (statvfs failed or hung), by mount point.",
        ("mountpoint",),
        "agent",
    ),
    MetricSpec(
        "hostvitals_agent_cpu_seconds_total",
        _C,
        "seconds",
        "CPU time used by the agent process.",
        (),
        "agent",
    ),
    MetricSpec(
        "hostvitals_agent_resident_memory_bytes",
        _G,
        "bytes",
        "Resident memory of the agent process.",
        (),
        "agent",
    ),
    MetricSpec(
        "hostvitals_agent_spool_bytes",
        _G,
        "bytes",
        "Bytes of frames waiting in the agent's spool.",
        (),
        "agent",
    ),
    MetricSpec(
        "hostvitals_agent_spool_frames",
        _G,
        "frames",
        "Frames waiting in the agent's spool.",
        (),
        "agent",
    ),
    MetricSpec(
        "hostvitals_agent_send_errors_total",
        _C,
        "errors",
        "Failed attempts to send a frame.",
        ("reason",),
        "agent",
    ),
    MetricSpec(
        "hostvitals_agent_frames_sent_total",
        _C,
        "frames",
        "Frames the collector acknowledged.",
        (),
        "agent",
    ),
    MetricSpec(
        "hostvitals_agent_dropped_samples_total",
        _C,
        "samples",
        "Samples the agent gave up on, by reason.",
        ("reason",),
        "agent",
    ),
    MetricSpec(
        "hostvitals_agent_flush_interval_seconds",
        _G,
        "seconds",
        "Seconds of samples per frame now: flush_interval, the interval while the collector "
        "asks for every tick, or outage_flush_interval.",
        (),
        "agent",
    ),
    MetricSpec(
        "hostvitals_agent_flush_hints_ignored_total",
        _C,
        "answers",
        "Collector answers whose Hostvitals-Flush-Interval was not a positive number.",
        (),
        "agent",
    ),
    MetricSpec(
        "hostvitals_agent_disk_full",
        _G,
        "boolean",
        "1 while the agent's state directory refuses writes (ENOSPC, EDQUOT, EIO): new frames "
        "are dropped as disk_full, or the spool's read position lags.",
        (),
        "agent",
    ),
    MetricSpec(
        "hostvitals_agent_spool_corrupt_total",
        _C,
        "records",
        "Damaged spans (torn or altered records) the agent's spool and journal skipped.",
        (),
        "agent",
    ),
)

CATALOGUE: Mapping[str, MetricSpec] = MappingProxyType({s.name: s for s in _SPECS})
"""Every metric by name."""


def groups() -> tuple[str, ...]:
    """Sampler groups in catalogue order."""
    seen: dict[str, None] = {}
    for spec in _SPECS:
        seen.setdefault(spec.group, None)
    return tuple(seen)


def metrics_of(group: str) -> tuple[MetricSpec, ...]:
    return tuple(s for s in _SPECS if s.group == group)
