"""The alert engine: evaluates rules on an interval and hands notifications to :mod:`.outbound`.

One asyncio task. Queries run in a worker thread (the reader is blocking); state changes,
dispatch and the API's reads all happen on the event loop, so they never race. A rule whose
query fails keeps its alerts as they were and shows the error. State is saved after every
evaluation that changed something and after every delivery. SLO reports come from
:mod:`.slo_eval` and the collector's own metrics are written by :mod:`.selfscrape`, each on
its own interval from the same task.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from prometheus_client import Counter, Histogram

from hostvitals.collector import statedb
from hostvitals.collector.alerts.hostwatch import HostWatch
from hostvitals.collector.alerts.model import Alert, Rule
from hostvitals.collector.alerts.notifiers import Notifier, build_notifier
from hostvitals.collector.alerts.objectives import Objective, objectives
from hostvitals.collector.alerts.outbound import Outbound
from hostvitals.collector.alerts.rules import RuleGroup, build_rule_groups
from hostvitals.collector.alerts.selfscrape import SelfScrape, Submitter
from hostvitals.collector.alerts.silences import Silences
from hostvitals.collector.alerts.silencestore import SilenceStore
from hostvitals.collector.alerts.slo_eval import SloEvaluator
from hostvitals.collector.alerts.state import Evaluation, Sample
from hostvitals.collector.alerts.store import StateFile, alert_from_json, alert_to_json
from hostvitals.collector.config.alerts import AlertsSettings
from hostvitals.collector.config.slos import SlosSettings
from hostvitals.collector.live.cluster import Cluster, merge_snapshots
from hostvitals.collector.live.current import CurrentStore, HostSnapshot
from hostvitals.collector.selfmetrics import SelfMetrics
from hostvitals.collector.slices import slices
from hostvitals.collector.vm.reader import InstantSample

log = logging.getLogger(__name__)

SAMPLES_PER_SLICE = 256
"""Samples of one rule stepped between two turns of the event loop (a few milliseconds)."""


class Querier(Protocol):
    def query(self, query: str, time: float | None = None) -> list[InstantSample]: ...


@dataclass(slots=True)
class RuleStatus:
    health: str = "unknown"
    last_error: str = ""
    last_evaluation: float | None = None
    evaluation_time: float = 0.0


class AlertEngine:
    def __init__(
        self,
        alerts: AlertsSettings,
        slos: SlosSettings,
        *,
        querier: Querier,
        current: CurrentStore,
        metrics: SelfMetrics,
        writer: Submitter | None = None,
        instance: str = "",
        host_ttl_s: float = 86_400.0,
        state_path: Path | None = None,
        clock: Callable[[], float] = time.time,
        notifiers: list[Notifier] | None = None,
        cluster: Cluster | None = None,
        accepting: Callable[[], bool] = lambda: True,
        silence_rows: SilenceStore | None = None,
    ) -> None:
        self.settings = alerts
        self._accepting = accepting  # whether ingest takes frames now (HostDown listens)
        self._cluster = cluster
        self.slo_settings = slos
        self._querier = querier
        self._current = current
        self._clock = clock
        self.objectives: list[Objective] = objectives(slos)
        self.groups: list[RuleGroup] = build_rule_groups(
            alerts, self.objectives, slos.budget_alert_ratio, slos.threshold_step_s
        )
        self.rules: dict[str, Rule] = {r.id: r for g in self.groups for r in g.rules}
        self.alerts: dict[str, dict[str, Alert]] = {rid: {} for rid in self.rules}
        self.status: dict[str, RuleStatus] = {rid: RuleStatus() for rid in self.rules}
        self.group_evaluated: dict[str, tuple[float, float]] = {}
        self.host_watch = HostWatch(host_ttl_s)
        self._silence_rows = silence_rows
        self.silences = Silences(alerts.max_silences, rows=silence_rows)
        self._slo = SloEvaluator(self.objectives, querier, slos.threshold_step_s)
        self._file = StateFile(state_path)
        built = (
            notifiers if notifiers is not None else [build_notifier(n) for n in alerts.notifiers]
        )
        self.outbound = Outbound(
            alerts, built, self.silences, metrics, on_done=self.mark_dirty, clock=clock
        )
        r = metrics.registry
        self._evaluations = Counter(
            "hostvitals_collector_rule_evaluations",
            "Rule evaluations, by result (ok, error).",
            ("result",),
            registry=r,
        )
        self._eval_duration = Histogram(
            "hostvitals_collector_rule_evaluation_duration_seconds",
            "Time to evaluate every rule once.",
            registry=r,
        )
        self._self_scrape = SelfScrape(metrics, writer, instance=instance, clock=clock)
        for result in ("ok", "error"):
            self._evaluations.labels(result)
        self._dirty = False
        self._task: asyncio.Task[None] | None = None
        self._next_eval = 0.0
        self._next_slo = 0.0
        self._next_self = 0.0

    # -- lifecycle -----------------------------------------------------------------------------

    def load(self) -> None:
        doc = self._file.load()
        try:
            for item in doc.get("alerts", []):
                alert = alert_from_json(item)
                if alert.rule_id in self.alerts:
                    self.alerts[alert.rule_id][alert.fingerprint] = alert
            self.host_watch.load(dict(doc.get("hosts", {})))
            self._load_silences(list(doc.get("silences", [])))
            self.outbound.load(dict(doc.get("dispatch", {})))
        except (KeyError, TypeError, ValueError) as exc:
            log.error("alert state partly unreadable (%s); continuing with what was read", exc)

    def _load_silences(self, from_file: list[dict[str, Any]]) -> None:
        rows = self._silence_rows
        self.silences.load(from_file if rows is None else rows.restore(from_file))

    def dump(self) -> dict[str, Any]:
        return self._document([alert_to_json(a) for a in self.all_alerts()])

    async def dump_in_slices(self) -> dict[str, Any]:
        """:meth:`dump`, giving the event loop back every ``SAMPLES_PER_SLICE`` alerts: a fleet
        with tens of thousands of alerts held the loop (and every request waiting on it) for
        over 100 ms each save. Each alert is written whole; one changed meanwhile marks the
        state dirty again, so the next tick saves it."""
        alerts = self.all_alerts()
        docs: list[dict[str, Any]] = []
        for chunk in slices(alerts, SAMPLES_PER_SLICE):
            docs += [alert_to_json(a) for a in chunk]
            await asyncio.sleep(0)
        return self._document(docs)

    def _document(self, alerts: list[dict[str, Any]]) -> dict[str, Any]:
        doc = {
            "alerts": alerts,
            "hosts": self.host_watch.dump(),
            "dispatch": self.outbound.dump(),
        }
        if self._silence_rows is None:
            doc["silences"] = self.silences.dump()
        return doc

    async def start(self) -> None:
        await asyncio.to_thread(self.load)
        # Hosts known from the saved state get a whole down period to report to this process.
        self.host_watch.listen(self._clock(), accepting=True)
        if not self.settings.enabled:
            return
        # The first write of the collector's own metrics waits one interval.
        self._next_self = self._clock() + self.slo_settings.self_metrics_interval_s
        self.outbound.start()
        self._task = asyncio.create_task(self._run(), name="alert-engine")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        # Deliveries in flight finish (within the grace period) and are recorded before the
        # state is saved, so a restart does not send them again.
        await self.outbound.stop(self.settings.delivery_shutdown_grace_s)
        await self.save()
        if self._silence_rows is not None:
            self._silence_rows.close()

    async def save(self) -> None:
        self._dirty = False
        try:
            await asyncio.to_thread(self._file.save, await self.dump_in_slices())
        except OSError as exc:
            self._dirty = True
            log.error("cannot save alert state to %s: %s", self._file.path, exc)

    def mark_dirty(self) -> None:
        self._dirty = True

    async def _run(self) -> None:
        tick = min(1.0, self.settings.evaluation_interval_s)
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:  # never let one bad tick stop alerting
                log.exception("alert engine tick failed")
            await asyncio.sleep(tick)

    async def tick(self) -> None:
        now = self._clock()
        hosts: list[HostSnapshot] | None = None
        follows = await self._follows()
        if follows:
            # Another replica evaluates and notifies; this one only writes its own metrics,
            # and evaluates at once should it lead.
            self._next_eval = self._next_slo = now
            self.outbound.dispatcher.touch()  # should this one lead, it plans at once
        if not follows and now >= self._next_eval:
            self._next_eval = now + self.settings.evaluation_interval_s
            hosts = self._current.hosts(now, series=False)
            await self.evaluate(now, await self._with_peers(hosts))
        if not follows and now >= self._next_slo and self.objectives:
            self._next_slo = now + self.slo_settings.evaluation_interval_s
            await self.evaluate_slos(now)
        if now >= self._next_self and self._self_scrape.enabled:
            self._next_self = now + self.slo_settings.self_metrics_interval_s
            if hosts is None:
                hosts = self._current.hosts(now, series=False)
            await self.write_self_metrics(hosts)
        planned_at = self._clock()
        if not follows and self.outbound.dispatcher.needs_plan(planned_at):
            await self.dispatch(planned_at)
        if self._dirty:
            await self.save()

    async def _follows(self) -> bool:
        """Whether another replica leads alerting (collector/live/cluster.py)."""
        cluster = self._cluster
        return cluster is not None and cluster.enabled and await cluster.leader() is not None

    async def _with_peers(self, hosts: list[HostSnapshot]) -> list[HostSnapshot]:
        """This replica's hosts and its peers' (for HostDown: a host that moved to another
        replica is not down)."""
        cluster = self._cluster
        if cluster is None or not cluster.enabled:
            return hosts
        return merge_snapshots(hosts, await cluster.gather("/api/v1/hosts"))

    # -- evaluation ----------------------------------------------------------------------------

    def _query_all(self, rules: list[Rule], now: float) -> dict[str, list[Sample] | Exception]:
        out: dict[str, list[Sample] | Exception] = {}
        for rule in rules:
            started = time.perf_counter()
            try:
                query = rule.expr if rule.kind == "threshold" else rule.condition()
                result = self._querier.query(query, now)
                out[rule.id] = [Sample(s.labels, s.value) for s in result if math.isfinite(s.value)]
            except Exception as exc:
                out[rule.id] = exc
            self.status[rule.id].evaluation_time = time.perf_counter() - started
        return out

    async def evaluate(self, now: float, hosts: list[HostSnapshot]) -> None:
        started = time.perf_counter()
        queried = [r for r in self.rules.values() if r.kind in ("threshold", "promql")]
        results = await asyncio.to_thread(self._query_all, queried, now)
        for rule in self.rules.values():
            status = self.status[rule.id]
            status.last_evaluation = now
            samples: list[Sample] | Exception
            if rule.kind == "slo_error":
                samples = self._slo.errors(rule)
            elif rule.kind == "host_down":
                self.host_watch.listen(now, self._accepting())
                samples = self.host_watch.down(hosts, now, rule.after_flushes)
                status.evaluation_time = 0.0
            else:
                samples = results[rule.id]
            if isinstance(samples, Exception):
                status.health, status.last_error = "err", str(samples)
                self._evaluations.labels("error").inc()
                continue
            status.health, status.last_error = "ok", ""
            self._evaluations.labels("ok").inc()
            evaluation = Evaluation(
                rule, self.alerts[rule.id], now, self.settings.resolved_retention_s
            )
            # A fleet's samples a slice at a time: all of them at once would hold the loop
            # (and every request waiting on it) for tens of milliseconds per rule.
            for chunk in slices(samples, SAMPLES_PER_SLICE):
                evaluation.feed(chunk)
                await asyncio.sleep(0)
            changed = evaluation.finish()
            for alert in changed:
                log.info("alert %s %s %s", alert.labels.get("alertname"), alert.state, alert.labels)
            if changed:
                self._dirty = True
                self.outbound.dispatcher.touch()
        elapsed = time.perf_counter() - started
        self._eval_duration.observe(elapsed)
        for group in self.groups:
            self.group_evaluated[group.name] = (now, elapsed)
        if any(r.kind == "host_down" for r in self.rules.values()):
            self._dirty = True  # host last-seen times move on

    @property
    def slo_reports(self) -> dict[str, dict[str, Any]]:
        """Each SLO's newest report, by name (empty until the first SLO evaluation)."""
        return self._slo.reports

    async def evaluate_slos(self, now: float) -> None:
        await self._slo.evaluate(now)

    async def write_self_metrics(self, hosts: list[HostSnapshot]) -> None:
        await self._self_scrape.write(hosts)

    # -- notifications -------------------------------------------------------------------------

    def all_alerts(self) -> list[Alert]:
        return [a for per in self.alerts.values() for a in per.values()]

    async def dispatch(self, now: float) -> None:
        await self.outbound.dispatch(self.all_alerts(), now)


def build_engine(
    settings: Any,
    *,
    querier: Querier,
    current: CurrentStore,
    metrics: SelfMetrics,
    writer: Submitter | None,
    cluster: Cluster | None = None,
    accepting: Callable[[], bool] = lambda: True,
) -> AlertEngine:
    """The engine for the collector's settings (a
    ``hostvitals.collector.config.settings.Settings``)."""
    state_dir: Path | None = settings.state.dir
    if state_dir is None and settings.alerts.enabled:
        log.warning("state.dir is not set: alert state and silences are lost on restart")
    return AlertEngine(
        settings.alerts,
        settings.slos,
        querier=querier,
        current=current,
        metrics=metrics,
        writer=writer,
        instance=f"{settings.server.host}:{settings.server.port}",
        host_ttl_s=settings.live.host_ttl_s,
        state_path=None if state_dir is None else Path(state_dir) / "alerts.json",
        cluster=cluster,
        accepting=accepting,
        silence_rows=SilenceStore(statedb.connect(state_dir)),
    )
