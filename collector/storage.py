"""The parts behind exactly-once ingest and the retention tiers, built from the settings.

:func:`build_storage` opens the state database and makes the frame ledger, the series
budgets per host and for the fleet, the circuit breaker, the rollup queue and job, the cold
path for ticks past the raw tier's horizon, and one reader per tier.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

from prometheus_client import Gauge

from hostvitals.collector import statedb
from hostvitals.collector.config.settings import Settings
from hostvitals.collector.config.tiers import VictoriaMetricsSettings
from hostvitals.collector.ingest.dedup import FrameLedger
from hostvitals.collector.ingest.hostbudget import HostSeriesBudget
from hostvitals.collector.rollups.coldpath import ColdMetrics, ColdPath
from hostvitals.collector.rollups.job import RollupJob, RollupMetrics
from hostvitals.collector.rollups.partials import PartialStore
from hostvitals.collector.rollups.queue import RollupQueue
from hostvitals.collector.rollups.tiers import Tier, tiers_from
from hostvitals.collector.selfmetrics import SelfMetrics
from hostvitals.collector.vm.breaker import BreakerState, CircuitBreaker
from hostvitals.collector.vm.client import VictoriaMetricsClient
from hostvitals.collector.vm.reader import VictoriaMetricsReader
from hostvitals.collector.vm.recent import RecentWrites
from hostvitals.collector.vm.resend import RestartWatch
from hostvitals.collector.vm.transport import RequestsTransport


@dataclass(slots=True)
class Storage:
    tiers: tuple[Tier, ...]
    ledger: FrameLedger
    budget: HostSeriesBudget
    breaker: CircuitBreaker
    rollups: RollupQueue | None
    job: RollupJob | None
    readers: dict[str, VictoriaMetricsReader]  # rollup tiers by name (raw: the app's reader)
    _conns: list[sqlite3.Connection]
    _clients: list[VictoriaMetricsClient]
    cold: ColdPath | None = None
    watches: list[RestartWatch] = field(default_factory=list)  # one per rollup tier

    def start(self) -> None:
        if self.job is not None:
            self.job.start()
        for watch in self.watches:
            watch.start()

    def close(self, timeout: float) -> None:
        for watch in self.watches:
            watch.stop(timeout)
        if self.job is not None:
            self.job.stop(timeout)
        for client in self._clients:
            client.close()
        for reader in self.readers.values():
            reader.close()
        for conn in self._conns:
            conn.close()


def build_storage(settings: Settings, metrics: SelfMetrics) -> Storage:
    vm = settings.victoriametrics
    cfg = settings.tiers
    tiers = tiers_from(settings)
    state_dir = settings.state.dir
    ledger_conn = statedb.connect(state_dir)
    ledger = FrameLedger(ledger_conn, settings.live.dedup_frames_per_host, settings.live.host_ttl_s)
    limits = settings.limits
    budget = HostSeriesBudget(
        limits.max_series_per_host, limits.max_series_total, settings.live.series_ttl_s
    )
    Gauge(
        "hostvitals_collector_series_in_use",
        "Distinct series counted against limits.max_series_total (all hosts together).",
        registry=metrics.registry,
    ).set_function(budget.total)
    state = Gauge(
        "hostvitals_collector_breaker_state",
        "Circuit breaker in front of VictoriaMetrics writes: 0 closed, 1 open, 2 half-open.",
        registry=metrics.registry,
    )
    b = settings.breaker
    breaker = CircuitBreaker(
        failure_threshold=b.failure_threshold,
        open_s=b.open_s,
        half_open_max_requests=b.half_open_max_requests,
        slow_write_s=b.slow_write_s,
        on_change=lambda s: state.set(int(s)),
    )
    state.set(int(BreakerState.CLOSED))
    conns = [ledger_conn]
    clients: list[VictoriaMetricsClient] = []
    readers: dict[str, VictoriaMetricsReader] = {}
    queue: RollupQueue | None = None
    job: RollupJob | None = None
    cold: ColdPath | None = None
    watches: list[RestartWatch] = []
    if cfg.rollups:
        queue_conn = statedb.connect(state_dir)
        conns.append(queue_conn)
        queue = RollupQueue(
            queue_conn, tiers, settle_s=cfg.settle_s, max_pending=cfg.max_pending_buckets
        )
        raw_client = VictoriaMetricsClient(tiers[0].endpoints, vm.timeout_s)
        clients.append(raw_client)
        targets = {}
        for tier in tiers[1:]:  # one client per tier (job, cold path, watch), one transport
            recent = recent_writes(vm)
            transport = RequestsTransport()
            targets[tier.name] = client = VictoriaMetricsClient(
                tier.endpoints,
                vm.timeout_s,
                vm.health_timeout_s,
                recent=recent,
                transport=transport,
            )
            clients.append(client)
            readers[tier.name] = VictoriaMetricsReader(tier.endpoints, vm.timeout_s, transport)
            if recent is not None:
                watches.append(
                    RestartWatch(
                        tier.name, client, recent, metrics.resend, vm.restart_check_interval_s
                    )
                )
        job = RollupJob(
            queue,
            raw_client,
            tiers,
            targets,
            RollupMetrics(metrics.registry),
            interval_s=cfg.rollup_interval_s,
        )
        cold_conn = statedb.connect(state_dir)
        conns.append(cold_conn)
        cold = ColdPath(
            PartialStore(cold_conn),
            tiers,
            targets,
            ColdMetrics(metrics.registry),
            raw_retention_s=tiers[0].retention_s,
            margin_s=cfg.cold_margin_s,
            grace_s=cfg.cold_grace_s,
            idle_s=cfg.cold_idle_s,
            max_partials=cfg.cold_max_partials,
        )
    return Storage(
        tiers, ledger, budget, breaker, queue, job, readers, conns, clients, cold, watches
    )


def recent_writes(vm: VictoriaMetricsSettings) -> RecentWrites | None:
    """Where one VictoriaMetrics' recent writes are kept for a re-send (None: turned off)."""
    if vm.resend_window_s <= 0:
        return None
    return RecentWrites(vm.resend_window_s, vm.resend_max_bytes)
