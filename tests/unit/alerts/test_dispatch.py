"""Grouping, group wait/interval, repeat, resolved notifications, silences and inhibition."""

from __future__ import annotations

import pytest

from hostvitals.collector.alerts.dispatch import PLAN_SLICE, Dispatcher, Job, Target
from hostvitals.collector.alerts.model import Alert, fingerprint
from hostvitals.collector.alerts.silences import Matcher, SilenceError, Silences
from hostvitals.collector.config.alerts import AlertsSettings
from hostvitals.collector.config.vocabulary import Severity
from tests.support.turns import counting_turns

SETTINGS = AlertsSettings(group_wait_s=5, group_interval_s=10, repeat_interval_s=100)


def alert(host: str, severity: str = "high", state: str = "firing", name: str = "HighCPU") -> Alert:
    labels = {"alertname": name, "host": host, "severity": severity}
    return Alert(
        rule_id=f"r/{name}/{severity}",
        fingerprint=fingerprint(labels),
        labels=labels,
        annotations={},
        state=state,  # type: ignore[arg-type]
        active_at=0.0,
        value=1.0,
        last_true_at=0.0,
        fired_at=0.0,
        resolved_at=50.0 if state == "resolved" else None,
    )


def make(silences: Silences | None = None, resolved: bool = True) -> Dispatcher:
    target = Target("hook", frozenset(Severity), resolved)
    return Dispatcher(SETTINGS, [target], silences or Silences(10), lambda a: "")


def deliver(d: Dispatcher, jobs: list[Job], now: float) -> None:
    for job in jobs:
        d.done(job, True, now)


def test_group_waits_then_notifies_once_per_group() -> None:
    d = make()
    alerts = [alert("a"), alert("b")]
    assert d.plan(alerts, 0) == []
    jobs = d.plan(alerts, 5)
    assert sorted(j.notification.group_labels["host"] for j in jobs) == ["a", "b"]
    deliver(d, jobs, 5)
    assert d.plan(alerts, 6) == []
    assert d.plan(alerts, 50) == []  # unchanged: nothing until the repeat interval
    assert len(d.plan(alerts, 105)) == 2


def test_in_flight_groups_are_not_sent_twice() -> None:
    d = make()
    d.plan([alert("a")], 0)
    (job,) = d.plan([alert("a")], 5)
    assert d.plan([alert("a")], 6) == []
    d.done(job, False, 6)  # failed: retried after the group interval
    assert d.plan([alert("a")], 7) == []
    assert len(d.plan([alert("a")], 16)) == 1


def test_resolved_is_sent_after_the_group_interval_then_the_group_is_done() -> None:
    d = make()
    d.plan([alert("a")], 0)
    deliver(d, d.plan([alert("a")], 5), 5)
    gone = [alert("a", state="resolved")]
    assert d.plan(gone, 10) == []
    (job,) = d.plan(gone, 15)
    assert job.notification.status == "resolved"
    deliver(d, [job], 15)
    assert d.plan(gone, 200) == []


def test_without_send_resolved_nothing_goes_out_on_resolve() -> None:
    d = make(resolved=False)
    d.plan([alert("a")], 0)
    deliver(d, d.plan([alert("a")], 5), 5)
    assert d.plan([alert("a", state="resolved")], 30) == []


def test_critical_inhibits_lower_severities_of_the_same_alert_on_the_same_host() -> None:
    d = make()
    alerts = [alert("a", "critical"), alert("a", "high"), alert("b", "high")]
    muted = d.muted(alerts, 0)
    assert muted == {alerts[1].fingerprint: "inhibited"}
    d.plan(alerts, 0)
    jobs = d.plan(alerts, 5)
    shown = {(a.labels["host"], a.labels["severity"]) for j in jobs for a in j.notification.alerts}
    assert shown == {("a", "critical"), ("b", "high")}


def test_silences_mute_matching_alerts_while_active() -> None:
    silences = Silences(10)
    s = silences.add(
        [Matcher.create("host", "a"), Matcher.create("alertname", "High.*", is_regex=True)],
        starts_at=0,
        ends_at=100,
        created_by="me",
        comment="maintenance",
        now=0,
    )
    d = make(silences)
    alerts = [alert("a"), alert("b")]
    d.plan(alerts, 0)
    assert [j.notification.group_labels["host"] for j in d.plan(alerts, 5)] == ["b"]
    silences.expire(s.id, 20)
    expired = silences.get(s.id)
    assert expired is not None and expired.state(20) == "expired"
    assert d.plan(alerts, 21) == []  # a group seen for the first time waits group_wait_s
    assert [j.notification.group_labels["host"] for j in d.plan(alerts, 26)] == ["a"]


@pytest.mark.parametrize(
    ("matchers", "kwargs", "says"),
    [
        ([], {}, "at least one matcher"),
        ([("host", ".*", True)], {}, "empty label value"),
        ([("host", "a", False)], {"created_by": " "}, "createdBy"),
        ([("host", "a", False)], {"comment": ""}, "comment"),
        ([("host", "a", False)], {"ends_at": 0}, "after startsAt"),
        ([("host", "a", False)], {"starts_at": -20, "ends_at": -10}, "in the future"),
    ],
)
def test_invalid_silences_are_refused(
    matchers: list[tuple[str, str, bool]], kwargs: dict[str, object], says: str
) -> None:
    args: dict[str, object] = {
        "starts_at": 0,
        "ends_at": 10,
        "created_by": "me",
        "comment": "why",
        "now": 0,
    }
    args.update(kwargs)
    with pytest.raises(SilenceError, match=says):
        Silences(10).add([Matcher.create(*m) for m in matchers], **args)  # type: ignore[arg-type]


def test_bad_regex_and_silence_limit() -> None:
    with pytest.raises(SilenceError, match="invalid regular expression"):
        Matcher.create("host", "(", is_regex=True)
    silences = Silences(1)
    silences.add([Matcher.create("host", "a")], 0, 10, "me", "x", 0)
    with pytest.raises(SilenceError, match="too many silences"):
        silences.add([Matcher.create("host", "b")], 0, 10, "me", "x", 0)


def summary(jobs: list[Job]) -> list[tuple[str, str, frozenset[str], frozenset[str]]]:
    return sorted((j.notifier, j.group_key, j.firing, j.resolved) for j in jobs)


async def test_planning_in_slices_gives_the_loop_turns_and_plans_the_same() -> None:
    """A fleet's alerts are planned a slice at a time, with the same notifications as in one
    piece: among them inhibited, silenced, resolved and unchanged groups."""
    silences = Silences(10)
    silences.add([Matcher.create("host", "h7")], 0, 1e9, "test", "h7 is down for repair", now=0)
    alerts = [alert(f"h{i}", severity="high") for i in range(3 * PLAN_SLICE)]
    alerts += [alert(f"h{i}", severity="critical") for i in range(0, 40, 2)]
    alerts += [alert(f"h{i}", state="resolved", name="DiskFull") for i in range(30)]
    whole, sliced = make(silences), make(silences)
    for d in (whole, sliced):
        deliver(d, d.plan(alerts[:PLAN_SLICE], 0), 0)  # some groups were told before
        d.plan(alerts, 1)
    async with counting_turns() as turns:
        before = turns.count
        jobs = await sliced.plan_in_slices(alerts, 20)
        during = turns.count - before
    expected = whole.plan(alerts, 20)
    assert summary(jobs) == summary(expected)
    assert len(expected) > 2 * PLAN_SLICE
    assert during >= 6  # the alerts, the inhibitions, the silences, the groups: each in slices
    assert not any(j.group_key.endswith(",host=h7") for j in jobs)  # silenced
    (h0,) = [j for j in jobs if j.group_key == "alertname=HighCPU,host=h0"]
    assert h0.firing == {alert("h0", severity="critical").fingerprint}  # high is inhibited
