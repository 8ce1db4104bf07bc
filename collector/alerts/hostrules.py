"""The built-in host rules as a table: name, kind, severity, PromQL, annotations, and the
settings fields that give their thresholds and durations (see :func:`.rules.default_rules`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from hostvitals.collector.alerts.model import RuleKind
from hostvitals.collector.config.vocabulary import Severity

HOST_DOWN: Final = "HostDown"


@dataclass(frozen=True, slots=True)
class HostRule:
    """One built-in host rule as data.

    ``expr`` and the annotations may name ``${cpu_usage}``, ``${real_fs}``, ``${lookback}``,
    ``${down_window}`` and ``${down_after_flushes}``, which :func:`default_rules` works out
    from the settings (Prometheus' own ``{{ $value }}``, ``{{ $labels.x }}`` are left alone).
    ``threshold`` names the settings field a threshold rule fires above (clearing
    ``clear_margin_percent`` below it); ``for_s`` the one saying how long it must hold.
    """

    name: str
    kind: RuleKind
    severity: Severity
    expr: str
    summary: str
    description: str
    threshold: str | None = None
    for_s: str | None = None
    runbook: str = ""
    """What to look at first; the ``runbook`` annotation."""


HOST_RULES: Final = (
    HostRule(
        "HighCPU",
        "threshold",
        Severity.HIGH,
        "100 * ${cpu_usage}",
        "CPU busy on {{ $labels.host }}",
        "CPU use on {{ $labels.host }} is {{ $value }} %, above {{ $threshold }} %.",
        threshold="cpu_percent",
        for_s="cpu_for_s",
        runbook=(
            "Find the busiest processes on the host page; a runaway job, a busy loop or a "
            "host too small for its load."
        ),
    ),
    HostRule(
        "HighMemory",
        "threshold",
        Severity.HIGH,
        "100 * (1 - max by (host) (node_memory_MemAvailable_bytes) "
        "/ max by (host) (node_memory_MemTotal_bytes))",
        "Memory nearly full on {{ $labels.host }}",
        "Memory use on {{ $labels.host }} is {{ $value }} %, above {{ $threshold }} %.",
        threshold="memory_percent",
        for_s="memory_for_s",
        runbook=(
            "Find the largest processes and services on the host page; look for a leak "
            "(memory that only grows) before the OOM killer picks a victim."
        ),
    ),
    HostRule(
        "DiskSpace",
        "threshold",
        Severity.HIGH,
        "100 * (1 - node_filesystem_avail_bytes{${real_fs}} "
        "/ node_filesystem_size_bytes{${real_fs}})",
        "Disk {{ $labels.mountpoint }} filling up on {{ $labels.host }}",
        "{{ $labels.mountpoint }} on {{ $labels.host }} is {{ $value }} % full, "
        "above {{ $threshold }} %.",
        threshold="disk_percent",
        for_s="disk_for_s",
        runbook=(
            "Find what grew (logs, caches, dumps, old kernels, container images) and free "
            "or grow the file system before writes fail."
        ),
    ),
    HostRule(
        "DiskFillingUp",
        "promql",
        Severity.MEDIUM,
        # Free below 40 % and, at the pace of the last 6 h, empty within a day; "offset 1h"
        # asks for an hour of history, so a fresh stack's first writes predict nothing.
        "(100 * node_filesystem_avail_bytes{${real_fs}} / node_filesystem_size_bytes{${real_fs}}"
        " < ${disk_fill_free_percent}) "
        "and predict_linear(node_filesystem_avail_bytes{${real_fs}}[6h], 86400) < 0 "
        "and (node_filesystem_avail_bytes{${real_fs}} offset 1h)",
        "Disk {{ $labels.mountpoint }} fills within a day on {{ $labels.host }}",
        "{{ $labels.mountpoint }} on {{ $labels.host }} has {{ $value }} % free and, at the "
        "pace of the last 6 hours, fills within 24 hours.",
        for_s="disk_fill_for_s",
        runbook=(
            "At this pace the file system is full within a day: find what writes (logs, a "
            "database, a stuck spool) and free or grow it now."
        ),
    ),
    HostRule(
        "SystemdUnitFailed",
        "promql",
        Severity.MEDIUM,
        'max by (host, name) (node_systemd_unit_state{state="failed"}) == 1',
        "{{ $labels.name }} failed on {{ $labels.host }}",
        "The systemd unit {{ $labels.name }} on {{ $labels.host }} is in the failed state.",
        for_s="unit_failed_for_s",
        runbook=(
            "Read why with `systemctl status <unit>` and `journalctl -u <unit> -b`; fix and "
            "restart it, or `systemctl reset-failed <unit>` if it is meant to be gone."
        ),
    ),
    HostRule(
        "DiskUnhealthy",
        "promql",
        Severity.HIGH,
        # From the agent's optional SMART sampler: the drive's own verdict (ATA and NVMe),
        # or an NVMe critical warning (spare below threshold, media read-only, ...).
        "(max by (host, device) (smartctl_device_smart_status) == 0) "
        "or (max by (host, device) (smartctl_device_critical_warning) > 0)",
        "Disk {{ $labels.device }} failing on {{ $labels.host }}",
        "The disk {{ $labels.device }} on {{ $labels.host }} reports that it is failing: its "
        "SMART health check failed or it raised an NVMe critical warning ({{ $value }}).",
        for_s="disk_health_for_s",
        runbook=(
            "Read `smartctl -x <device>`; check the backups of what is on it and replace the "
            "disk; a RAID or ZFS member can be taken out of its array first."
        ),
    ),
    HostRule(
        "HighTemperature",
        "promql",
        Severity.HIGH,
        # Near the critical temperature the chip states, or above a fixed one where it
        # states none.
        "(max by (host, chip, sensor) (node_hwmon_temp_celsius) >= on (host, chip, sensor) "
        "(max by (host, chip, sensor) (node_hwmon_temp_crit_celsius) - ${temperature_margin})) "
        "or (max by (host, chip, sensor) (node_hwmon_temp_celsius) > ${temperature_celsius} "
        "unless on (host, chip, sensor) node_hwmon_temp_crit_celsius)",
        "{{ $labels.chip }} {{ $labels.sensor }} near critical on {{ $labels.host }}",
        "{{ $labels.chip }} {{ $labels.sensor }} on {{ $labels.host }} is at {{ $value }} °C, "
        "within ${temperature_margin} °C of the critical temperature its chip states (or above "
        "${temperature_celsius} °C where it states none).",
        for_s="temperature_for_s",
        runbook="Check fans, airflow and dust, and what load runs; the hardware throttles and "
        "then powers off at its critical temperature.",
    ),
    HostRule(
        "MemoryPressure",
        "threshold",
        Severity.HIGH,
        "100 * max by (host) (rate(node_pressure_memory_stalled_seconds_total[5m]))",
        "Tasks stall on memory on {{ $labels.host }}",
        "All non-idle tasks on {{ $labels.host }} were stalled on memory {{ $value }} % of "
        "the last 5 minutes, above {{ $threshold }} %.",
        threshold="memory_pressure_percent",
        for_s="pressure_for_s",
        runbook=(
            "Tasks wait for memory: the host is swapping or reclaiming hard. Find the "
            "largest services and containers, and add memory or limits."
        ),
    ),
    HostRule(
        "IOPressure",
        "threshold",
        Severity.MEDIUM,
        "100 * max by (host) (rate(node_pressure_io_stalled_seconds_total[5m]))",
        "Tasks stall on I/O on {{ $labels.host }}",
        "All non-idle tasks on {{ $labels.host }} were stalled on I/O {{ $value }} % of "
        "the last 5 minutes, above {{ $threshold }} %.",
        threshold="io_pressure_percent",
        for_s="pressure_for_s",
        runbook=(
            "Tasks wait for I/O: check the disks' busy time and which services write, and "
            "whether a disk is failing or a backup runs."
        ),
    ),
    HostRule(
        "FileDescriptorsExhausted",
        "threshold",
        Severity.HIGH,
        "100 * max by (host) (node_filefd_allocated) / max by (host) (node_filefd_maximum)",
        "File handles running out on {{ $labels.host }}",
        "{{ $labels.host }} has allocated {{ $value }} % of its file handles (fs.file-max), "
        "above {{ $threshold }} %.",
        threshold="filefd_percent",
        for_s="filefd_for_s",
        runbook=(
            "Find the process holding the most open files (ls /proc/*/fd | wc -l per "
            "process); a leak, or raise fs.file-max."
        ),
    ),
    HostRule(
        HOST_DOWN,
        "host_down",
        Severity.CRITICAL,
        # For export: hosts seen in the last day but not within the down delay.
        "max by (host) (max_over_time(node_cpu_count[${lookback}])) "
        "unless max by (host) (max_over_time(node_cpu_count[${down_window}]))",
        "{{ $labels.host }} stopped reporting",
        "No frame from {{ $labels.host }} for {{ $value }} s "
        "(down after ${down_after_flushes} flush periods).",
    ),
    HostRule(
        "AgentUnhealthy",
        "promql",
        Severity.MEDIUM,
        "(sum by (host) (increase(hostvitals_agent_dropped_samples_total[10m])) > 0) "
        "or (max by (host) (hostvitals_agent_spool_frames) > 0 "
        "and max by (host) (deriv(hostvitals_agent_spool_frames[10m])) > 0)",
        "hostvitals agent on {{ $labels.host }} is falling behind",
        "The agent on {{ $labels.host }} is dropping samples or its spool keeps growing "
        "({{ $value }}).",
        for_s="agent_unhealthy_for_s",
    ),
    HostRule(
        "CollectorCertificateExpiring",
        "promql",
        Severity.HIGH,
        # The collector's own metrics, written to the raw tier every self_metrics_interval_s.
        "(min by (instance, what) "
        '(hostvitals_collector_tls_certificate_expiry_timestamp_seconds{job="hostvitals-collector"})'
        " - time()) / 86400 < 14",
        "A certificate of collector {{ $labels.instance }} expires soon",
        "The collector's {{ $labels.what }} certificate expires in {{ $value }} days.",
        runbook=(
            "Renew it and write it over tls.cert_file and tls.key_file (key first), or add "
            "the new CA to tls.client_ca_file: the collector reads them again without a "
            "restart (docs/security.md, Reloading without a restart)."
        ),
    ),
)
