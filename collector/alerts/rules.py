"""The rule set: built-in host rules, configured rules and the SLOs' burn-rate rules."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from string import Template
from typing import Final

from hostvitals.collector.alerts.model import Rule, RuleKind, format_number
from hostvitals.collector.alerts.objectives import Objective
from hostvitals.collector.alerts.slo import BURN_ALERTS, duration_text, error_budget
from hostvitals.collector.config.alerts import AlertsSettings, DefaultRulesSettings, RuleSettings
from hostvitals.collector.config.vocabulary import Severity
from hostvitals.collector.query.queries import cpu_usage_ratio
from hostvitals.collector.vm.promql import quote

HOSTS_GROUP: Final = "hostvitals-hosts"
SLO_EVALUATION_FAILED: Final = "SLOEvaluationFailed"
USER_GROUP: Final = "user"
SLO_GROUP_PREFIX: Final = "slo-"
HOST_DOWN: Final = "HostDown"
HOST_DOWN_LOOKBACK: Final = "1d"


@dataclass(frozen=True, slots=True)
class RuleGroup:
    name: str
    rules: tuple[Rule, ...]


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


def default_rules(d: DefaultRulesSettings) -> list[Rule]:
    """The built-in host rules (:data:`HOST_RULES`) with the settings' thresholds and
    durations, less those ``d.disabled`` names."""
    down_s = max(1, round(d.host_down_after_flushes * d.host_down_export_flush_period_s))
    values = {
        "cpu_usage": cpu_usage_ratio(None, duration_text(d.rate_window_s)),
        "real_fs": f"fstype!~{quote(d.ignored_fstypes)}",
        "lookback": HOST_DOWN_LOOKBACK,
        "down_window": duration_text(down_s),
        "down_after_flushes": format_number(d.host_down_after_flushes),
        "disk_fill_free_percent": format_number(d.disk_fill_free_percent),
        "temperature_margin": format_number(d.temperature_margin_celsius),
        "temperature_celsius": format_number(d.temperature_celsius),
    }
    return [_host_rule(row, d, values) for row in HOST_RULES if row.name not in d.disabled]


def _host_rule(row: HostRule, d: DefaultRulesSettings, values: Mapping[str, str]) -> Rule:
    def fill(text: str) -> str:
        return Template(text).safe_substitute(values)

    threshold = float(getattr(d, row.threshold)) if row.threshold is not None else None
    return Rule(
        id=f"{HOSTS_GROUP}/{row.name}",
        group=HOSTS_GROUP,
        name=row.name,
        kind=row.kind,
        expr=fill(row.expr),
        op=">" if threshold is not None else None,
        threshold=threshold,
        clear_threshold=(
            max(0.0, threshold - d.clear_margin_percent) if threshold is not None else None
        ),
        for_s=float(getattr(d, row.for_s)) if row.for_s is not None else 0.0,
        after_flushes=d.host_down_after_flushes if row.kind == "host_down" else 0.0,
        severity=row.severity,
        annotations={
            "summary": fill(row.summary),
            "description": fill(row.description),
            **({"runbook": row.runbook} if row.runbook else {}),
        },
    )


def user_rule(spec: RuleSettings, rule_id: str) -> Rule:
    return Rule(
        id=rule_id,
        group=USER_GROUP,
        name=spec.name,
        kind="threshold" if spec.op is not None else "promql",
        expr=spec.expr,
        op=spec.op,
        threshold=spec.threshold,
        clear_threshold=spec.clear_threshold,
        for_s=spec.for_s,
        keep_firing_for_s=spec.keep_firing_for_s,
        severity=spec.severity,
        labels=dict(spec.labels),
        annotations=dict(spec.annotations),
    )


def slo_rules(objective: Objective, budget_alert_ratio: float, step_s: int) -> list[Rule]:
    """Per indicator: the three multi-window burn-rate alerts and the budget-spent alert."""
    group = SLO_GROUP_PREFIX + objective.name
    budget = error_budget(objective.target)
    rules: list[Rule] = []
    for indicator in objective.indicators:
        base = {"slo": objective.name, "indicator": indicator.name, **objective.labels}
        for alert in BURN_ALERTS:
            rate = alert.burn_rate(objective.window_s)
            bound = format_number(round(rate * budget, 12))
            long_q = indicator.error_ratio(alert.long_s, step_s)
            short_q = indicator.error_ratio(alert.short_s, step_s)
            long_w, short_w = duration_text(alert.long_s), duration_text(alert.short_s)
            rules.append(
                Rule(
                    id=f"{group}/{indicator.name}/burn-{long_w}",
                    group=group,
                    name="SLOErrorBudgetBurn",
                    kind="promql",
                    expr=f"({long_q}) > {bound} and ({short_q}) > {bound}",
                    severity=alert.severity,
                    labels={**base, "long_window": long_w, "short_window": short_w},
                    annotations={
                        "summary": f"SLO {objective.name} is burning its error budget",
                        "description": (
                            f"{indicator.name}: error ratio over {long_w} and {short_w} above "
                            f"{rate:g}x the budget ({bound}); at this pace "
                            f"{alert.budget_share:.0%} of the budget goes within {long_w} "
                            f"({alert.action})."
                        ),
                    },
                )
            )
        spent = budget_alert_ratio * budget
        window = objective.window_s
        rules.append(
            Rule(
                id=f"{group}/{indicator.name}/budget",
                group=group,
                name="SLOErrorBudgetConsumed",
                kind="promql",
                expr=(
                    f"({indicator.error_ratio(window, step_s)}) > {format_number(round(spent, 12))}"
                ),
                severity=Severity.MEDIUM,
                labels=base,
                annotations={
                    "summary": (
                        f"SLO {objective.name} spent {budget_alert_ratio:.0%} of its error budget"
                    ),
                    "description": (
                        f"{indicator.name}: the error ratio over {duration_text(window)} is "
                        "{{ $value }}, more than "
                        f"{budget_alert_ratio:.0%} of the budget ({1 - objective.target:.4g})."
                    ),
                },
            )
        )
    return rules


def build_rule_groups(
    settings: AlertsSettings,
    slo_objectives: Sequence[Objective] = (),
    budget_alert_ratio: float = 0.5,
    step_s: int = 60,
) -> list[RuleGroup]:
    user: list[Rule] = []
    seen: dict[str, int] = {}
    for spec in settings.rules:
        n = seen[spec.name] = seen.get(spec.name, 0) + 1
        suffix = "" if n == 1 else f"#{n}"
        user.append(user_rule(spec, f"{USER_GROUP}/{spec.name}{suffix}"))
    overridden = {r.name for r in user}
    defaults = (
        [r for r in default_rules(settings.default_rules) if r.name not in overridden]
        if settings.default_rules.enabled
        else []
    )
    if settings.runbook_url:
        defaults = [with_runbook_url(rule, settings.runbook_url) for rule in defaults]
    groups = []
    if defaults:
        groups.append(RuleGroup(HOSTS_GROUP, tuple(defaults)))
    if user:
        groups.append(RuleGroup(USER_GROUP, tuple(user)))
    for objective in slo_objectives:
        rules = [*slo_rules(objective, budget_alert_ratio, step_s), slo_error_rule(objective)]
        if settings.runbook_url:
            rules = [with_runbook_url(rule, settings.runbook_url) for rule in rules]
        groups.append(RuleGroup(SLO_GROUP_PREFIX + objective.name, tuple(rules)))
    return groups


def runbook_anchor(alert_name: str) -> str:
    """The section of docs/runbook.md about an alert: its heading is the alert's name."""
    return alert_name.lower()


def with_runbook_url(rule: Rule, base: str) -> Rule:
    """A shipped rule with the ``runbook_url`` annotation pointing to its runbook section."""
    url = f"{base.rstrip('#')}#{runbook_anchor(rule.name)}"
    return replace(rule, annotations={**rule.annotations, "runbook_url": url})


def slo_error_rule(objective: Objective) -> Rule:
    """One low-severity alert when the SLO itself cannot be evaluated (its queries fail):
    its budget and burn rates are then unknown, which is not the same as burning."""
    group = SLO_GROUP_PREFIX + objective.name
    return Rule(
        id=f"{group}/evaluation",
        group=group,
        name=SLO_EVALUATION_FAILED,
        kind="slo_error",
        expr="",
        severity=Severity.LOW,
        labels={"slo": objective.name, **objective.labels},
        annotations={
            "summary": f"SLO {objective.name} cannot be evaluated",
            "description": (
                "Its queries fail, so its error budget and burn rates are unknown; "
                f"GET /api/v1/slos/{objective.name} shows the error."
            ),
        },
    )
