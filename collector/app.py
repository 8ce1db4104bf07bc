"""Build the collector's FastAPI application from its settings."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from fastapi import FastAPI

from hostvitals.collector import collector_version, tracing
from hostvitals.collector.access.assembly import add_access_reloads, build_access
from hostvitals.collector.access.audit import Action, Actor, open_audit
from hostvitals.collector.access.authn import (
    check_exposure,
    warn_plain_http,
)
from hostvitals.collector.access.login import Logins
from hostvitals.collector.access.middleware import AccessControl
from hostvitals.collector.access.peers import add_peer_reload, peer_ca
from hostvitals.collector.access.requestid import RequestId
from hostvitals.collector.access.requestlimits import RequestLimits
from hostvitals.collector.access.routes import RouteTable
from hostvitals.collector.alerts.engine import build_engine
from hostvitals.collector.api import access as access_api
from hostvitals.collector.api import alerts as alerts_api
from hostvitals.collector.api import audit as audit_api
from hostvitals.collector.api import (
    clusterinfo,
    debug,
    docs,
    fleet,
    health,
    ingest,
    live,
    prom,
    query,
    session,
    stream,
    ui,
    users,
)
from hostvitals.collector.api import enrollment as enrollment_api
from hostvitals.collector.api.fastpath import CurrentFastPath
from hostvitals.collector.api.forward import Forwarded, forwarded_response
from hostvitals.collector.api.ingestpath import IngestFastPath
from hostvitals.collector.api.stream import StreamSlots, shared_updates
from hostvitals.collector.config.settings import Settings
from hostvitals.collector.drain import Drain
from hostvitals.collector.errors import install_error_handlers
from hostvitals.collector.ingest.decoding import BodyDecoder
from hostvitals.collector.ingest.flushadvice import FlushAdvisor, LoopLag
from hostvitals.collector.ingest.pipeline import IngestPipeline
from hostvitals.collector.live.answers import CurrentCache
from hostvitals.collector.live.cluster import Cluster, peer_ssl_context
from hostvitals.collector.live.current import CurrentStore
from hostvitals.collector.live.discovery import peer_discovery
from hostvitals.collector.live.fleet import FleetTable
from hostvitals.collector.live.forecast import DiskForecast
from hostvitals.collector.live.watch import WatchRegistry
from hostvitals.collector.periodic import PeriodicThread
from hostvitals.collector.query.cache import QueryCache
from hostvitals.collector.query.gate import QueryGate
from hostvitals.collector.reload import Reloads
from hostvitals.collector.rollups.coldpath import accepted_limits
from hostvitals.collector.rollups.remark import mark_resent
from hostvitals.collector.rollups.tiers import RAW
from hostvitals.collector.selfmetrics import SelfMetrics
from hostvitals.collector.stallwatch import StallWatch
from hostvitals.collector.storage import build_storage, recent_writes
from hostvitals.collector.vm.breaker import BreakerState
from hostvitals.collector.vm.client import VictoriaMetricsBackend, VictoriaMetricsClient
from hostvitals.collector.vm.probe import ReachabilityProbe
from hostvitals.collector.vm.reader import VictoriaMetricsReader
from hostvitals.collector.vm.resend import RestartWatch
from hostvitals.collector.vm.transport import RequestsTransport
from hostvitals.collector.vm.writer import VictoriaMetricsWriter
from hostvitals.shared.masking import install_log_masking

log = logging.getLogger(__name__)

USAGE_FLUSH_S = 30.0  # how often the credentials' last-used times are saved


def create_app(settings: Settings, *, backend: VictoriaMetricsBackend | None = None) -> FastAPI:
    """The collector app. ``backend`` replaces the HTTP client to VictoriaMetrics' write and
    health endpoints (tests pass a fake); queries always go through the reader.

    ``app.state`` holds ``settings``, ``reader``, ``current`` (the live view), ``fleet_table``
    (its fleet rows), ``watch`` (who looks at which host), ``writer``, ``metrics`` (the
    collector's own registry), ``pipeline``, ``probe``, ``reloads`` (what SIGHUP and file
    changes read again; the server adds its TLS certificates), ``audit`` (the audit log),
    ``version`` and ``forecast`` (the fleet page's disk forecast).
    Raises ConfigError when the token file cannot be read, or when the collector would listen
    beyond loopback with no credential configured (see docs/security.md).
    """
    vm = settings.victoriametrics
    live_settings = settings.live
    install_log_masking(mask_ips=settings.logging.mask_ip_addresses)
    metrics = SelfMetrics()
    access = build_access(settings, metrics)
    authn, access_store, user_store = access.authn, access.store, access.users
    close_access = access.close

    try:
        check_exposure(settings, authn)
    except BaseException:
        close_access()
        raise
    warn_plain_http(settings, authn)
    audit = open_audit(
        settings, on_record=lambda what, result: metrics.audit_records.labels(what, result).inc()
    )
    reloads = Reloads(
        metrics.registry,
        on_outcome=lambda name, outcome, why: audit.record(
            Action.RELOAD,
            principal=Actor(f"system:{why}", "admin"),
            target=name,
            result=outcome,
            source=None,
            request_id=None,
        ),
    )
    add_access_reloads(reloads, settings, authn, access_store)
    usage = PeriodicThread(
        "access-usage", USAGE_FLUSH_S, access_store.flush_usage, what="saving last-used times"
    )

    storage = build_storage(settings, metrics)
    raw_endpoints = storage.tiers[0].endpoints
    transport = RequestsTransport()  # the raw tier's writes, checks and reads share it
    client: VictoriaMetricsBackend
    raw_watch: RestartWatch | None = None
    if backend is None:
        recent = recent_writes(vm)
        client = real = VictoriaMetricsClient(
            raw_endpoints, vm.timeout_s, vm.health_timeout_s, recent=recent, transport=transport
        )
        if recent is not None:
            rollup_queue = storage.rollups
            raw_watch = RestartWatch(
                RAW,
                real,
                recent,
                metrics.resend,
                vm.restart_check_interval_s,
                on_resent=None if rollup_queue is None else partial(mark_resent, rollup_queue),
            )
    else:
        client = backend
    writer = VictoriaMetricsWriter(
        client,
        metrics,
        batch_max_bytes=vm.write_batch_max_bytes,
        max_delay_s=vm.write_max_delay_ms / 1000.0,
        concurrency=vm.write_concurrency,
        queue_max_bytes=vm.write_queue_max_bytes,
        breaker=storage.breaker,
        # Written frames enter the ledger in the writer's thread, a batch at a time.
        on_written=lambda frames: storage.ledger.remember_many(frames, time.time()),
    )
    current = CurrentStore(
        host_ttl_s=live_settings.host_ttl_s,
        series_ttl_s=live_settings.series_ttl_s,
        stale_after=live_settings.stale_after_flushes,
        down_after=live_settings.down_after_flushes,
    )
    metrics.track_hosts(lambda: len(current))
    watch = WatchRegistry(
        ttl_s=live_settings.watch_ttl_s,
        max_fast_hosts=live_settings.watch_max_hosts,
        registry=metrics.registry,
    )
    reader = VictoriaMetricsReader(raw_endpoints, vm.timeout_s, transport)
    cluster = Cluster(
        settings.cluster.peers,
        timeout_s=settings.cluster.peer_timeout_s,
        cache_s=settings.cluster.peer_cache_s,
        registry=metrics.registry,
        token=lambda: access.peer_token.secret,
        # No peers, nothing to check: a CA file is only read when there is someone to ask.
        tls=peer_ssl_context(peer_ca(settings)) if settings.cluster.clustered else None,
    )
    discovery = peer_discovery(settings.cluster, cluster, metrics.registry)
    add_peer_reload(reloads, settings, access.peer_token, cluster)
    alert_engine = build_engine(
        settings,
        querier=reader,
        current=current,
        metrics=metrics,
        writer=writer,
        cluster=cluster,
        # While the breaker refuses frames, agents spool them: their silence is not theirs.
        accepting=lambda: storage.breaker.state is BreakerState.CLOSED,
    )

    lag = LoopLag(registry=metrics.registry, busy_lag_s=live_settings.watch_busy_lag_s)
    stall_ms = settings.server.stall_watch_ms
    stall_watch = StallWatch(stall_ms / 1000.0) if stall_ms > 0 else None

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if stall_watch is not None:
            stall_watch.start()
        usage.start()
        measuring = asyncio.create_task(lag.run(), name="hostvitals-loop-lag")
        loop = asyncio.get_running_loop()
        hup = reloads.on_sighup(loop)
        watching = asyncio.create_task(
            reloads.watch(settings.server.reload_check_s), name="hostvitals-reload-watch"
        )
        writer.start()
        storage.start()
        if raw_watch is not None:
            raw_watch.start()
        discovering: asyncio.Task[None] | None = None
        if discovery is not None:
            await discovery.refresh()  # serve with the peers DNS has now, if it answers
            discovering = asyncio.create_task(discovery.run(), name="hostvitals-peer-discovery")
        await alert_engine.start()
        try:
            yield
        finally:
            measuring.cancel()
            watching.cancel()
            if discovering is not None:
                discovering.cancel()
            if hup:
                reloads.off_sighup(loop)
            await alert_engine.stop()
            await cluster.close()
            if raw_watch is not None:
                await asyncio.to_thread(raw_watch.stop, 5.0)
            # Write what is queued before going away; bounded by a few write timeouts.
            await asyncio.to_thread(writer.close, max(5.0, 3 * vm.timeout_s))
            client.close()
            reader.close()
            await asyncio.to_thread(storage.close, max(5.0, 3 * vm.timeout_s))
            await asyncio.to_thread(usage.stop, 5.0)
            await asyncio.to_thread(access_store.flush_usage)
            close_access()
            audit.close()
            await asyncio.to_thread(tracing.stop)
            if stall_watch is not None:
                await stall_watch.stop()

    app = FastAPI(
        title="hostvitals collector",
        version=collector_version(),
        summary="Receives host metrics from agents and answers queries about them.",
        lifespan=lifespan,
        docs_url=None,  # served by hostvitals.collector.api.docs from local files, not a CDN
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.drain = Drain()
    app.state.reader = reader
    app.state.cluster = cluster
    app.state.alerts = alert_engine
    app.state.storage = storage
    app.state.stall_watch = stall_watch
    app.state.current = current
    app.state.fleet_table = FleetTable(current)
    app.state.current_cache = current_cache = CurrentCache()
    app.state.watch = watch
    app.add_middleware(IngestFastPath, state=app.state)
    app.add_middleware(
        CurrentFastPath,
        store=current,
        cache=current_cache,
        watch=watch,
        cluster=cluster,
        registry=metrics.registry,
    )
    # Rate limits go just inside the access check, which leaves them who is asking.
    app.add_middleware(
        RequestLimits,
        settings=settings.rate_limits,
        registry=metrics.registry,
        on_ingest_refused=lambda reason: metrics.ingest_rejected.labels(reason).inc(),
    )
    # Added last, so outermost: every request, the fast path's included, is checked first.
    app.add_middleware(
        AccessControl,
        table=RouteTable(),
        authn=authn,
        registry=metrics.registry,
        on_ingest_refused=lambda reason: metrics.ingest_rejected.labels(reason).inc(),
        require_client_cert=settings.tls.require_client_cert_on_ingest,
        audit=audit,
    )
    app.add_middleware(RequestId)  # a refused request has an id too
    observe = settings.observability
    if tracing.start(
        observe.otlp_endpoint,
        service_name=observe.service_name,
        sample_ratio=observe.sample_ratio,
        export_timeout_s=observe.export_timeout_s,
    ):  # outermost: its span covers the whole answer
        app.add_middleware(tracing.TraceRequests)
    app.state.audit = audit
    app.state.access_store = access_store
    app.state.reloads = reloads
    app.state.enrollment_store = access.enrollment
    app.state.authn = authn
    app.state.users = user_store
    app.state.logins = Logins(user_store, access.throttle, metrics.registry)
    app.state.query_cache = QueryCache(
        settings.query.cache_ttl_s, settings.query.cache_max_bytes, metrics.registry
    )
    app.state.query_gate = QueryGate(
        settings.query.max_concurrent_per_client,
        settings.query.max_concurrent,
        settings.query.queue_timeout_s,
        metrics.registry,
    )
    app.state.writer = writer
    app.state.metrics = metrics
    app.state.probe = ReachabilityProbe(client.ping, vm.health_cache_s)
    app.state.version = collector_version()
    app.state.forecast = DiskForecast(reader.query, settings.alerts.default_rules.ignored_fstypes)
    app.state.streams = StreamSlots(settings.ui.max_streams, metrics.registry)
    app.state.stream_updates = shared_updates(settings.ui.stream_interval_s, metrics.registry)
    limits = accepted_limits(settings)
    app.state.pipeline = IngestPipeline(
        limits=limits,
        writer=writer,
        current=current,
        recent=storage.ledger,
        budget=storage.budget,
        breaker=storage.breaker,
        rollups=storage.rollups,
        cold=storage.cold,
        metrics=metrics,
        retry_after_s=vm.retry_after_s,
        advisor=FlushAdvisor(watch, writer, storage.breaker, lag),
        decoder=BodyDecoder(limits, registry=metrics.registry),
    )
    install_error_handlers(app)
    app.add_exception_handler(Forwarded, forwarded_response)
    # The live, fleet and stream routes stay before the history API's /metrics/{family}.
    for router in (
        ingest.router,
        health.router,
        live.router,
        fleet.router,
        stream.router,
        query.router,
        prom.router,
        ui.router,
        docs.router,
    ):
        app.include_router(router)
    app.include_router(alerts_api.router)
    app.include_router(clusterinfo.router)
    app.include_router(access_api.router)
    app.include_router(audit_api.router)
    app.include_router(debug.router)
    app.include_router(session.router)
    app.include_router(users.router)
    app.include_router(enrollment_api.router)
    return app
