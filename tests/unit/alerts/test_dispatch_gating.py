"""The dispatcher plans only when a plan can find something new, and then sends exactly what
planning every second would: the same notifications at the same moments, under alert
changes, silences starting and ending, and deliveries that succeed, fail and retry."""

from __future__ import annotations

import random
import zlib

import pytest

from hostvitals.collector.alerts.dispatch import Dispatcher, Job, Target
from hostvitals.collector.alerts.model import Alert
from hostvitals.collector.alerts.silences import Matcher, Silences
from hostvitals.collector.config.alerts import AlertsSettings
from hostvitals.collector.config.vocabulary import Severity
from tests.unit.alerts.test_dispatch import alert

SETTINGS = AlertsSettings(group_wait_s=5, group_interval_s=10, repeat_interval_s=60)
TARGETS = [
    Target("everything", frozenset(Severity), True),
    Target("pager", frozenset({Severity.CRITICAL}), False),
]


def shown(jobs: list[Job]) -> list[tuple[str, str, frozenset[str], frozenset[str]]]:
    return sorted((j.notifier, j.group_key, j.firing, j.resolved) for j in jobs)


@pytest.mark.parametrize("seed", range(6))
def test_planning_when_needed_sends_what_planning_every_second_sends(seed: int) -> None:
    rng = random.Random(seed)
    every_silences, gated_silences = Silences(50), Silences(50)
    every = Dispatcher(SETTINGS, TARGETS, every_silences, lambda a: "")
    gated = Dispatcher(SETTINGS, TARGETS, gated_silences, lambda a: "")
    alerts: dict[tuple[str, str, str], Alert] = {}
    deliveries: list[tuple[int, Job, Job, bool]] = []  # (ends at, each one's job, delivered)
    sent = 0
    for now in range(900):
        if rng.random() < 0.08:  # an alert starts firing, resolves, or fires again
            key = (f"h{rng.randrange(6)}", rng.choice("AB"), rng.choice(["warning", "critical"]))
            old = alerts.get(key)
            state = "resolved" if old is not None and old.state == "firing" else "firing"
            host, name, severity = key
            alerts[key] = alert(host, severity, state, name)
            gated.touch()
        if rng.random() < 0.02:  # a silence, starting now or later, for a while
            starts = now + rng.choice([0, 0, 7, 30])
            ends = starts + rng.randrange(5, 120)
            matchers = [Matcher.create("host", f"h{rng.randrange(6)}")]
            for silences in (every_silences, gated_silences):
                silences.add(
                    matchers, starts, ends, "ops", "maintenance", now, new_id=str(now).format
                )
        if rng.random() < 0.01 and every_silences.all():  # one ends early
            victim = rng.choice(every_silences.all()).id
            every_silences.expire(victim, now)
            gated_silences.expire(victim, now)
        for _, theirs, mine, delivered in [d for d in deliveries if d[0] == now]:
            every.done(theirs, delivered, now)
            gated.done(mine, delivered, now)
        deliveries = [d for d in deliveries if d[0] != now]
        current = list(alerts.values())
        expected = every.plan(current, now)
        got = gated.plan(current, now) if gated.needs_plan(now) else []
        assert shown(got) == shown(expected), f"at {now} s"
        mine_by_group = {(j.notifier, j.group_key): j for j in got}
        for job in expected:
            sent += 1
            # The same outcome for both: delivered or failed, after 0 to 3 s.
            mark = zlib.crc32(f"{job.notifier}{job.group_key}{now}".encode())
            mine = mine_by_group[(job.notifier, job.group_key)]
            deliveries.append((now + mark % 4, job, mine, mark % 5 != 0))
    assert sent > 20  # the run exercised the dispatcher
    assert gated.plans < every.plans / 2  # and planning when needed saved most plans


def test_a_plan_is_needed_after_a_change_a_delivery_a_silence_or_when_a_wait_ends() -> None:
    silences = Silences(10)
    d = Dispatcher(SETTINGS, TARGETS, silences, lambda a: "")
    firing = [alert("h", "critical", name="A")]
    assert d.needs_plan(0)
    assert d.plan(firing, 0) == []
    assert not d.needs_plan(4.9)
    assert d.needs_plan(5)  # the group wait ends
    jobs = d.plan(firing, 5)
    assert len(jobs) == 2 and not d.needs_plan(6)  # in flight: a delivery's end will say
    d.done(jobs[0], True, 6)
    assert d.needs_plan(6)
    d.plan(firing, 6)
    d.done(jobs[1], False, 7)  # failed: retried after the group interval
    d.plan(firing, 7)
    # The delivered group may change from its group interval on, the failed one is retried.
    assert not d.needs_plan(15.9) and d.needs_plan(16)
    d.plan(firing, 16)
    assert not d.needs_plan(16.9) and d.needs_plan(17)
    assert [j.notifier for j in d.plan(firing, 17)] == ["pager"]  # the retry
    d.done(jobs[1], True, 17)
    d.plan(firing, 17)
    d.touch()
    assert d.needs_plan(18)
    d.plan(firing, 18)
    assert not d.needs_plan(19)
    silences.add([Matcher.create("host", "h")], 30, 40, "ops", "later", 19)
    assert d.needs_plan(19)
    d.plan(firing, 19)
    assert not d.needs_plan(26.9) and d.needs_plan(27)  # the pager's group interval
    d.plan(firing, 27)
    assert not d.needs_plan(29.9) and d.needs_plan(30)  # the silence starts
    d.plan(firing, 30)
    assert not d.needs_plan(39.9) and d.needs_plan(40)  # and ends
