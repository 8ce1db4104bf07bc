"""What severities ask of people, compiled rules and alert instances."""

from __future__ import annotations

import hashlib
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

from hostvitals.collector.config.vocabulary import Op, Severity

RESPONSE_TIMES: Final[Mapping[Severity, str]] = {
    Severity.CRITICAL: "page: respond within 15 minutes, day or night",
    Severity.HIGH: "page during waking hours: respond within 1 hour",
    Severity.MEDIUM: "ticket: respond within 1 business day",
    Severity.LOW: "ticket: look at it within a week",
}

OPS: Final[Mapping[str, Callable[[float, float], bool]]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}

# slo_error: the collector's own check that an SLO's queries answer; nothing to export.
RuleKind = Literal["threshold", "promql", "host_down", "slo_error"]
AlertState = Literal["pending", "firing", "resolved"]


@dataclass(frozen=True, slots=True)
class Rule:
    """One alerting rule, ready to evaluate.

    ``threshold`` rules query ``expr`` for its values and compare them with ``op`` and
    ``threshold`` here, so a firing alert can stay firing until the value crosses
    ``clear_threshold``. ``promql`` rules fire for every series ``expr`` returns.
    ``host_down`` is judged from the collector's live view; ``expr`` is its PromQL
    equivalent for export.
    """

    id: str
    group: str
    name: str
    kind: RuleKind
    expr: str
    severity: Severity
    for_s: float = 0.0
    keep_firing_for_s: float = 0.0
    op: Op | None = None
    threshold: float | None = None
    clear_threshold: float | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    after_flushes: float = 0.0  # host_down only

    def condition(self) -> str:
        """The PromQL condition: ``expr`` itself, or ``(expr) op threshold``."""
        if self.kind == "threshold":
            return f"({self.expr}) {self.op} {format_number(self.threshold or 0.0)}"
        return self.expr


@dataclass(slots=True)
class Alert:
    """One alert instance: a rule and one label set."""

    rule_id: str
    fingerprint: str
    labels: dict[str, str]
    annotations: dict[str, str]
    state: AlertState
    active_at: float
    value: float
    last_true_at: float
    fired_at: float | None = None
    resolved_at: float | None = None

    @property
    def severity(self) -> Severity:
        """The ``severity`` label; medium when it is missing or not a severity."""
        return _SEVERITIES.get(self.labels.get("severity", ""), Severity.MEDIUM)


_SEVERITIES: Final = {s.value: s for s in Severity}
"""A dict lookup: calling the enum costs several times as much, and the dispatcher asks each
alert's severity every second."""


def fingerprint(labels: Mapping[str, str]) -> str:
    """A stable id of a label set (16 hex digits)."""
    text = "\x00".join(f"{k}\x01{v}" for k, v in sorted(labels.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def format_number(value: float) -> str:
    """Shortest faithful text of a threshold: 80, 0.5, 1e-06."""
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)
