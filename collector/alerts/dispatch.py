"""From alerts to notifications: mute, group, decide when each notifier hears of a group.

Alertmanager's model, per notifier and per group (``group_by`` labels, alertname and host by
default): the first notification goes out ``group_wait_s`` after the group appeared; a
change (a new firing alert, a resolved one) goes out at most every ``group_interval_s``; an
unchanged firing group is repeated every ``repeat_interval_s``. What each notifier was told
is the notification log; it is saved with the alert state, so a restart does not notify again.

A plan looks at every alert, so it runs only when it can find something new: after alert
states changed (:meth:`Dispatcher.touch`), a delivery ended, a silence was added or
expired, or when the earliest time that a plan found a group might become due (its wait, a
retry, a group or repeat interval, a silence starting or ending) has come
(:meth:`Dispatcher.needs_plan`).

Muted alerts are left out: those matched by an active silence, and those inhibited by a
firing alert of higher severity with the same ``inhibit_equal`` labels.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from hostvitals.collector.alerts.model import Alert
from hostvitals.collector.alerts.notifiers.base import AlertView, Notification
from hostvitals.collector.alerts.silences import Silences
from hostvitals.collector.config.alerts import AlertsSettings
from hostvitals.collector.config.vocabulary import Severity
from hostvitals.collector.slices import run_in_turns, run_whole, slices


@dataclass(slots=True)
class LogEntry:
    """What one notifier was last told about one group."""

    firing: set[str] = field(default_factory=set)
    resolved: set[str] = field(default_factory=set)
    sent_at: float = 0.0
    retry_at: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "firing": sorted(self.firing),
            "resolved": sorted(self.resolved),
            "sent_at": self.sent_at,
            "retry_at": self.retry_at,
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> LogEntry:
        return cls(
            set(doc.get("firing", ())),
            set(doc.get("resolved", ())),
            float(doc.get("sent_at", 0.0)),
            float(doc.get("retry_at", 0.0)),
        )


@dataclass(frozen=True, slots=True)
class Target:
    """How the dispatcher sees a notifier."""

    name: str
    severities: frozenset[Severity]
    send_resolved: bool


@dataclass(frozen=True, slots=True)
class Job:
    notifier: str
    group_key: str
    notification: Notification
    firing: frozenset[str]
    resolved: frozenset[str]


PLAN_SLICE: Final = 512
"""Alerts, or groups, planned between two turns of the event loop (about 5 ms)."""


def inhibited(alerts: Iterable[Alert], equal: Iterable[str]) -> set[str]:
    """Fingerprints of firing alerts that a more severe firing alert inhibits."""
    out: set[str] = set()
    run_whole(_inhibited(list(alerts), tuple(equal), out))
    return out


def _inhibited(alerts: list[Alert], keys: tuple[str, ...], out: set[str]) -> Iterator[None]:
    """:func:`inhibited` into ``out``, pausing every ``PLAN_SLICE`` alerts."""
    best: dict[tuple[str, ...], int] = {}
    firing: list[tuple[Alert, tuple[str, ...], int]] = []
    for chunk in slices(alerts, PLAN_SLICE):
        for alert in chunk:
            if alert.state != "firing":
                continue
            labels = alert.labels
            key = tuple([labels.get(k, "") for k in keys])
            rank = alert.severity.rank
            firing.append((alert, key, rank))
            if rank < best.get(key, 4):
                best[key] = rank
        yield
    for held in slices(firing, PLAN_SLICE):
        out.update(a.fingerprint for a, key, rank in held if best[key] < rank)
        yield


_SEVERITY_COUNT: Final = len(Severity)


class Dispatcher:
    def __init__(
        self,
        settings: AlertsSettings,
        targets: Iterable[Target],
        silences: Silences,
        generator_url: Callable[[Alert], str],
    ) -> None:
        self._s = settings
        self._targets = {t.name: t for t in targets}
        self._silences = silences
        self._generator_url = generator_url
        self.log: dict[str, dict[str, LogEntry]] = {name: {} for name in self._targets}
        self.group_first_seen: dict[str, float] = {}
        self._in_flight: set[tuple[str, str]] = set()
        self._group_keys: dict[str, str] = {}
        """Fingerprint -> group key, from the last plan (a fingerprint stands for its labels)."""
        self._changed = True
        self._silences_seen = -1
        self._wake_at = -math.inf
        self.plans = 0
        """Plans made so far (for tests)."""

    def touch(self) -> None:
        """Alert states changed: the next :meth:`needs_plan` says yes."""
        self._changed = True

    def needs_plan(self, now: float) -> bool:
        """Whether a plan now can find a notification the last plan did not."""
        return (
            self._changed or self._silences_seen != self._silences.version or now >= self._wake_at
        )

    def group_key(self, labels: Mapping[str, str]) -> str:
        return ",".join(f"{k}={labels.get(k, '')}" for k in self._s.group_by)

    def muted(self, alerts: Iterable[Alert], now: float) -> dict[str, str]:
        """Fingerprint -> why (``silenced`` or ``inhibited``) for every muted alert."""
        out: dict[str, str] = {}
        run_whole(self._muted(list(alerts), now, out))
        return out

    def plan(self, alerts: Iterable[Alert], now: float) -> list[Job]:
        """The notifications due now. Each is in flight until :meth:`done` is called."""
        jobs: list[Job] = []
        run_whole(self._plan(list(alerts), now, jobs))
        return jobs

    async def plan_in_slices(self, alerts: Iterable[Alert], now: float) -> list[Job]:
        """:meth:`plan`, giving the event loop back every ``PLAN_SLICE`` alerts or groups:
        planning 20,000 alerts in one piece held the loop (and every request waiting on it)
        for 200 ms, every second. A delivery that ends meanwhile is seen by the groups
        planned after it, as it would be by the next plan."""
        jobs: list[Job] = []
        await run_in_turns(self._plan(list(alerts), now, jobs))
        return jobs

    def _muted(self, alerts: list[Alert], now: float, out: dict[str, str]) -> Iterator[None]:
        held: set[str] = set()
        yield from _inhibited(alerts, tuple(self._s.inhibit_equal), held)
        out.update(dict.fromkeys(held, "inhibited"))
        for chunk in slices(alerts, PLAN_SLICE):
            for alert in chunk:
                if self._silences.muted_by(alert.labels, now):
                    out[alert.fingerprint] = "silenced"
            yield

    def _plan(self, alerts: list[Alert], now: float, jobs: list[Job]) -> Iterator[None]:
        self.plans += 1
        # A change from here on (the plan gives the loop turns) asks for the next plan.
        self._changed = False
        self._silences_seen = self._silences.version
        wake = [self._silences.next_change(now)]
        alerts = [a for a in alerts if a.state in ("firing", "resolved")]
        muted: dict[str, str] = {}
        yield from self._muted(alerts, now, muted)
        groups: dict[str, list[Alert]] = {}
        known, self._group_keys = self._group_keys, {}
        for chunk in slices(alerts, PLAN_SLICE):
            for alert in chunk:
                fp = alert.fingerprint
                if fp in muted:
                    continue
                key = known.get(fp)
                if key is None:
                    key = self.group_key(alert.labels)
                self._group_keys[fp] = key
                groups.setdefault(key, []).append(alert)
            yield
        keys = list(groups)
        first_seen = self.group_first_seen
        for some in slices(keys, PLAN_SLICE):
            for key in some:
                if key not in first_seen and any(a.state == "firing" for a in groups[key]):
                    first_seen[key] = now
            yield
        for key in [k for k in first_seen if k not in groups]:
            del first_seen[key]
        for name, target in self._targets.items():
            log = self.log[name]
            for some in slices(keys, PLAN_SLICE):
                yield
                for key in some:
                    if (name, key) in self._in_flight:
                        continue
                    job = self._job(target, key, groups[key], log.get(key), now, wake)
                    if job is not None:
                        self._in_flight.add((name, key))
                        jobs.append(job)
            for key in [k for k in log if k not in groups and (name, k) not in self._in_flight]:
                del log[key]  # nothing left to say about the group
        self._wake_at = min(wake)

    def _job(
        self,
        target: Target,
        key: str,
        members: list[Alert],
        entry: LogEntry | None,
        now: float,
        wake: list[float],
    ) -> Job | None:
        """The notification due now for the group, if any; when none is, the time one may
        become due without any change is added to ``wake``."""
        group_interval, repeat_interval = self._s.group_interval_s, self._s.repeat_interval_s
        if entry is not None:
            since = now - entry.sent_at
            if now < entry.retry_at or (since < group_interval and since < repeat_interval):
                # Nothing can be due yet: no need to look at the members.
                wake.append(
                    max(entry.retry_at, entry.sent_at + min(group_interval, repeat_interval))
                )
                return None
        every = len(target.severities) == _SEVERITY_COUNT
        mine = members if every else [a for a in members if a.severity in target.severities]
        firing = {a.fingerprint for a in mine if a.state == "firing"}
        told = entry.firing if entry is not None else set()
        resolved = {a.fingerprint for a in mine if a.state == "resolved" and a.fingerprint in told}
        if entry is None:
            if not firing:
                return None
            first_seen = self.group_first_seen.get(key, now)
            if now - first_seen < self._s.group_wait_s:
                wake.append(first_seen + self._s.group_wait_s)
                return None
        else:
            new_resolved = resolved - entry.resolved
            changed = bool(firing - entry.firing) or bool(new_resolved)
            due = (changed and since >= group_interval) or (
                bool(firing) and since >= repeat_interval
            )
            if not due:
                if changed:
                    wake.append(entry.sent_at + group_interval)
                if firing:
                    wake.append(entry.sent_at + repeat_interval)
                return None
            if not firing and not (target.send_resolved and new_resolved):
                entry.firing = set()
                entry.resolved |= new_resolved
                return None
        shown = [
            a
            for a in mine
            if a.fingerprint in firing or (target.send_resolved and a.fingerprint in resolved)
        ]
        notification = Notification(
            receiver=target.name,
            group_key=key,
            group_labels={k: shown[0].labels.get(k, "") for k in self._s.group_by},
            alerts=tuple(self._view(a) for a in shown),
            external_url=self._s.external_url,
        )
        return Job(target.name, key, notification, frozenset(firing), frozenset(resolved))

    def _view(self, alert: Alert) -> AlertView:
        return AlertView(
            status=alert.state,
            labels=dict(alert.labels),
            annotations=dict(alert.annotations),
            starts_at=alert.fired_at or alert.active_at,
            ends_at=alert.resolved_at if alert.state == "resolved" else None,
            fingerprint=alert.fingerprint,
            value=alert.value,
            generator_url=self._generator_url(alert),
        )

    def done(self, job: Job, delivered: bool, now: float) -> None:
        """Record the outcome of ``job``: the log on success, a later retry on failure."""
        self._in_flight.discard((job.notifier, job.group_key))
        self._changed = True
        log = self.log.setdefault(job.notifier, {})
        entry = log.get(job.group_key)
        if not delivered:
            if entry is None:
                entry = log[job.group_key] = LogEntry()
            entry.retry_at = now + max(self._s.group_interval_s, 1.0)
            return
        if entry is None:
            entry = log[job.group_key] = LogEntry()
        entry.firing = set(job.firing)
        entry.resolved |= set(job.resolved)
        entry.sent_at = now
        entry.retry_at = 0.0

    def release(self, job: Job) -> None:
        """Forget that ``job`` is in flight without recording anything (it was dropped)."""
        self._in_flight.discard((job.notifier, job.group_key))
        self._changed = True

    def dump(self) -> dict[str, Any]:
        return {
            "log": {
                name: {key: entry.to_json() for key, entry in entries.items()}
                for name, entries in self.log.items()
            },
            "group_first_seen": dict(self.group_first_seen),
        }

    def load(self, doc: Mapping[str, Any]) -> None:
        for name, entries in dict(doc.get("log", {})).items():
            if name in self._targets:
                self.log[name] = {k: LogEntry.from_json(v) for k, v in dict(entries).items()}
        self.group_first_seen.update(
            {str(k): float(v) for k, v in dict(doc.get("group_first_seen", {})).items()}
        )
