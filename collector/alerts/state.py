"""The alert state machine of one rule: inactive -> pending -> firing -> resolved.

A series whose condition holds becomes ``pending``; after ``for_s`` of holding it is
``firing`` (at once when ``for_s`` is 0). A pending alert whose condition stops holding is
dropped. A firing alert stays firing while its value has not crossed the rule's clear
threshold, and for ``keep_firing_for_s`` after the condition last held; then it is
``resolved`` and kept for ``retention_s`` so the resolved notification can go out. A series
that holds again after resolving starts a new alert (pending again).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from hostvitals.collector.alerts import templates
from hostvitals.collector.alerts.model import OPS, Alert, Rule, fingerprint


@dataclass(frozen=True, slots=True)
class Sample:
    """One series of a rule's result: its labels (without ``__name__``) and value."""

    labels: Mapping[str, str]
    value: float


def alert_labels(rule: Rule, series: Mapping[str, str], value: float) -> dict[str, str]:
    labels = {k: v for k, v in series.items() if k != "__name__"}
    for name, text in rule.labels.items():
        labels[name] = templates.render(text, series, value, rule.threshold)
    labels["alertname"] = rule.name
    labels["severity"] = rule.severity.value
    return labels


def render_annotations(rule: Rule, labels: Mapping[str, str], value: float) -> dict[str, str]:
    return {
        name: templates.render(text, labels, value, rule.threshold)
        for name, text in rule.annotations.items()
    }


def _holds(rule: Rule, value: float) -> bool:
    if rule.kind != "threshold":
        return True  # a PromQL rule returns only series whose condition holds
    assert rule.op is not None and rule.threshold is not None
    return OPS[rule.op](value, rule.threshold)


def _still_firing(rule: Rule, value: float) -> bool:
    """Whether a firing threshold alert has not yet crossed back over the clear threshold."""
    if rule.kind != "threshold" or rule.clear_threshold is None:
        return False
    assert rule.op is not None
    # Firing above the threshold clears at or below clear_threshold, and the mirror image.
    strict = {">": ">", ">=": ">", "<": "<", "<=": "<"}[rule.op]
    return OPS[strict](value, rule.clear_threshold)


def step(
    rule: Rule,
    alerts: dict[str, Alert],
    samples: Iterable[Sample],
    now: float,
    retention_s: float,
) -> list[Alert]:
    """Advance ``alerts`` (this rule's, by fingerprint) with one evaluation's ``samples``.

    Returns the alerts that changed state (for logging). ``alerts`` is updated in place.
    """
    evaluation = Evaluation(rule, alerts, now, retention_s)
    evaluation.feed(samples)
    return evaluation.finish()


class Evaluation:
    """:func:`step` in parts: :meth:`feed` the samples in as many parts as wanted (the engine
    lets the event loop serve requests in between), then :meth:`finish` once."""

    def __init__(
        self, rule: Rule, alerts: dict[str, Alert], now: float, retention_s: float
    ) -> None:
        self.rule = rule
        self.alerts = alerts
        self.now = now
        self.retention_s = retention_s
        self.changed: list[Alert] = []
        self._seen: set[str] = set()

    def feed(self, samples: Iterable[Sample]) -> None:
        rule, alerts, now, changed = self.rule, self.alerts, self.now, self.changed
        for sample in samples:
            holds = _holds(rule, sample.value)
            if not holds and not alerts:
                # Nothing to keep firing, drop or resolve: skip its labels and fingerprint. A
                # threshold rule gets every host's value each time, nearly all of them healthy.
                continue
            labels = alert_labels(rule, sample.labels, sample.value)
            fp = fingerprint(labels)
            self._seen.add(fp)
            alert = alerts.get(fp)
            if alert is not None and alert.state == "firing":
                alert.value = sample.value
                # Inside the hysteresis band counts as holding: the alert stays firing.
                if holds or _still_firing(rule, sample.value):
                    alert.last_true_at = now
                    alert.annotations = render_annotations(rule, labels, sample.value)
                else:
                    _release(rule, alert, now, changed)
                continue
            if not holds:
                if alert is not None and alert.state == "pending":
                    del alerts[fp]
                continue
            if alert is None or alert.state == "resolved":
                alert = Alert(
                    rule_id=rule.id,
                    fingerprint=fp,
                    labels=labels,
                    annotations=render_annotations(rule, labels, sample.value),
                    state="pending",
                    active_at=now,
                    value=sample.value,
                    last_true_at=now,
                )
                alerts[fp] = alert
                changed.append(alert)
            else:
                alert.value = sample.value
                alert.last_true_at = now
                alert.annotations = render_annotations(rule, labels, sample.value)
            if alert.state == "pending" and now - alert.active_at >= rule.for_s:
                alert.state = "firing"
                alert.fired_at = now
                changed.append(alert)

    def finish(self) -> list[Alert]:
        """Resolve or drop the alerts no sample was fed for; the alerts that changed state."""
        rule, now, changed = self.rule, self.now, self.changed
        for fp, alert in list(self.alerts.items()):
            if alert.state == "resolved":
                if alert.resolved_at is None or now - alert.resolved_at > self.retention_s:
                    del self.alerts[fp]
            elif fp in self._seen:
                continue
            elif alert.state == "pending":
                del self.alerts[fp]
            else:
                _release(rule, alert, now, changed)
        return changed


def _release(rule: Rule, alert: Alert, now: float, changed: list[Alert]) -> None:
    """The condition no longer holds: resolve unless keep_firing_for still covers it."""
    if now - alert.last_true_at < rule.keep_firing_for_s:
        return
    alert.state = "resolved"
    alert.resolved_at = now
    changed.append(alert)
