"""The rule set: built-in host rules, configured rules and the SLOs' burn-rate rules."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from string import Template
from typing import Final

from hostvitals.collector.alerts.hostrules import HOST_DOWN as HOST_DOWN
from hostvitals.collector.alerts.hostrules import HOST_RULES as HOST_RULES
from hostvitals.collector.alerts.hostrules import HostRule as HostRule
from hostvitals.collector.alerts.model import Rule, format_number
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
HOST_DOWN_LOOKBACK: Final = "1d"


@dataclass(frozen=True, slots=True)
class RuleGroup:
    name: str
    rules: tuple[Rule, ...]


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
