"""The alert state machine, driven with an injected clock."""

from __future__ import annotations

import pytest

from hostvitals.collector.alerts import state
from hostvitals.collector.alerts.model import Alert, Rule
from hostvitals.collector.alerts.state import Evaluation, Sample, step
from hostvitals.collector.config.vocabulary import Severity

CPU = Rule(
    id="g/HighCPU",
    group="g",
    name="HighCPU",
    kind="threshold",
    expr="cpu",
    op=">",
    threshold=80.0,
    clear_threshold=75.0,
    for_s=10.0,
    severity=Severity.HIGH,
    annotations={"summary": "{{ $labels.host }} at {{ $value }} (> {{ $threshold }})"},
)
PROMQL = Rule(
    id="g/Up",
    group="g",
    name="Up",
    kind="promql",
    expr="up == 0",
    keep_firing_for_s=5.0,
    severity=Severity.LOW,
)


def run(rule: Rule, alerts: dict[str, Alert], value: float | None, now: float) -> str | None:
    samples = [] if value is None else [Sample({"host": "a", "__name__": "x"}, value)]
    step(rule, alerts, samples, now, retention_s=60.0)
    states = [a.state for a in alerts.values()]
    return states[0] if states else None


def test_pending_then_firing_after_for() -> None:
    alerts: dict[str, Alert] = {}
    assert run(CPU, alerts, 50, 0) is None
    assert run(CPU, alerts, 90, 1) == "pending"
    assert run(CPU, alerts, 91, 10) == "pending"
    assert run(CPU, alerts, 92, 11) == "firing"
    (alert,) = alerts.values()
    assert alert.labels == {"host": "a", "alertname": "HighCPU", "severity": "high"}
    assert alert.annotations["summary"] == "a at 92 (> 80)"
    assert (alert.active_at, alert.fired_at) == (1, 11)


def test_pending_that_stops_holding_is_dropped() -> None:
    alerts: dict[str, Alert] = {}
    run(CPU, alerts, 90, 0)
    assert run(CPU, alerts, 70, 5) is None
    assert run(CPU, alerts, 90, 6) == "pending"
    assert next(iter(alerts.values())).active_at == 6  # the for_s clock started again


def test_clear_threshold_keeps_a_wobbling_value_firing() -> None:
    alerts: dict[str, Alert] = {}
    run(CPU, alerts, 90, 0)
    run(CPU, alerts, 90, 10)
    for now, value in ((11, 79), (12, 81), (13, 76), (14, 78)):
        assert run(CPU, alerts, value, now) == "firing", (now, value)
    assert run(CPU, alerts, 75, 15) == "resolved"
    assert next(iter(alerts.values())).resolved_at == 15


def test_resolved_is_kept_for_retention_then_forgotten() -> None:
    alerts: dict[str, Alert] = {}
    run(CPU, alerts, 90, 0)
    run(CPU, alerts, 90, 10)
    run(CPU, alerts, 10, 20)
    assert run(CPU, alerts, 10, 80) == "resolved"
    assert run(CPU, alerts, 10, 81) is None


def test_holding_again_after_resolving_starts_a_new_alert() -> None:
    alerts: dict[str, Alert] = {}
    run(CPU, alerts, 90, 0)
    run(CPU, alerts, 90, 10)
    run(CPU, alerts, 10, 20)
    assert run(CPU, alerts, 95, 21) == "pending"


def test_keep_firing_for_bridges_gaps() -> None:
    alerts: dict[str, Alert] = {}
    assert run(PROMQL, alerts, 0, 0) == "firing"  # for_s 0 fires at once
    assert run(PROMQL, alerts, None, 3) == "firing"
    assert run(PROMQL, alerts, 0, 4) == "firing"
    assert run(PROMQL, alerts, None, 8) == "firing"
    assert run(PROMQL, alerts, None, 9) == "resolved"


def test_a_firing_threshold_alert_whose_series_vanishes_resolves() -> None:
    alerts: dict[str, Alert] = {}
    run(CPU, alerts, 90, 0)
    run(CPU, alerts, 90, 10)
    assert run(CPU, alerts, None, 11) == "resolved"


def test_below_threshold_rules_clear_above_the_clear_threshold() -> None:
    low = Rule(
        id="g/Low",
        group="g",
        name="LowFree",
        kind="threshold",
        expr="free",
        op="<",
        threshold=10.0,
        clear_threshold=15.0,
        severity=Severity.MEDIUM,
    )
    alerts: dict[str, Alert] = {}
    assert run(low, alerts, 5, 0) == "firing"
    assert run(low, alerts, 12, 1) == "firing"
    assert run(low, alerts, 15, 2) == "resolved"


def test_a_fleet_of_healthy_hosts_costs_no_fingerprints(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[object] = []
    real = state.fingerprint
    monkeypatch.setattr(state, "fingerprint", lambda labels: calls.append(labels) or real(labels))
    alerts: dict[str, Alert] = {}
    healthy = [Sample({"host": f"h{i}"}, 10.0) for i in range(1000)]
    assert step(CPU, alerts, healthy, 0.0, retention_s=60.0) == []
    assert alerts == {} and calls == []
    # One host crosses the threshold; the others are looked up while an alert exists.
    step(CPU, alerts, [*healthy[1:], Sample({"host": "h0"}, 95.0)], 1.0, retention_s=60.0)
    assert [a.labels["host"] for a in alerts.values()] == ["h0"]
    step(CPU, alerts, healthy, 2.0, retention_s=60.0)  # it stopped holding while pending
    assert alerts == {}


def test_an_evaluation_fed_in_parts_ends_as_one_step_does() -> None:
    def samples(t: int) -> list[Sample]:
        return [Sample({"host": f"h{i}"}, 90.0 if (i + t) % 3 else 10.0) for i in range(30)]

    whole: dict[str, Alert] = {}
    parts: dict[str, Alert] = {}
    for t in range(6):
        now = 10.0 * t
        expected = step(CPU, whole, samples(t), now, retention_s=25.0)
        evaluation = Evaluation(CPU, parts, now, retention_s=25.0)
        batch = samples(t)
        for first in range(0, len(batch), 7):
            evaluation.feed(batch[first : first + 7])
        got = evaluation.finish()
        assert [(a.fingerprint, a.state) for a in got] == [
            (a.fingerprint, a.state) for a in expected
        ]
        assert {fp: a.state for fp, a in parts.items()} == {fp: a.state for fp, a in whole.items()}
