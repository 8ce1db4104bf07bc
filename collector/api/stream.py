"""Live updates for the dashboard as server-sent events: ``GET /api/v1/stream``.

Without ``host`` the stream carries ``fleet`` events (the body of ``GET /api/v1/fleet``); with
``host`` it carries ``host`` events: that host's fleet row (``null`` while it is unknown), its
top processes and its services and containers (``workloads``, as
``/api/v1/metrics/workloads``). The live view is checked every ``ui.stream_interval_s`` and an
event is sent only when its content changed (a status turning stale or down is a change), with
a keep-alive comment in between. Every event's data is ``{"now": <server time>, "data": ...}``.
Each check marks the host (or, without ``host``, the whole fleet) watched, so its agents flush
every tick while the stream is open (``hostvitals.collector.live.watch``).

The fleet's update and each host's are computed and encoded once per interval, whatever the
number of streams showing them (``hostvitals.collector.live.updates``): a stream only sends
the shared bytes when their version changed. A fleet stream sends the whole fleet first, then
``fleet-delta`` events, ``{"changed": [row, ...], "removed": [host, ...]}``, as long as it
sent every update in between; otherwise (its reader fell behind) the whole fleet again.

A stream follows its credential: every ``ui.stream_recheck_s`` it checks again that its
session (or bearer token) still holds (:mod:`hostvitals.collector.access.recheck`), and once
it does not, it sends a last ``end`` event, ``{"reason": ..., "message": ...}``, and closes;
each such end is counted in ``hostvitals_collector_streams_ended_total`` by reason.

Streams are bounded: at most ``ui.max_streams`` are open at once; more are answered 503 with
``Retry-After``, and counted in ``hostvitals_collector_streams_rejected_total``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Final

import orjson
from fastapi import APIRouter, Query, Request, Response
from fastapi.sse import format_sse_event
from prometheus_client import CollectorRegistry, Counter, Gauge
from starlette.background import BackgroundTask
from starlette.responses import StreamingResponse

from hostvitals.collector.access.recheck import MESSAGES, REASONS, Check, credential_check
from hostvitals.collector.api.rowcontext import app_row_context
from hostvitals.collector.api.watching import watching
from hostvitals.collector.config.settings import UiSettings
from hostvitals.collector.errors import ApiError
from hostvitals.collector.live.cluster import Cluster
from hostvitals.collector.live.current import PROCESS_METRICS, CurrentStore
from hostvitals.collector.live.fleet import (
    ROW_METRICS,
    FleetTable,
    RowContext,
    fleet_row,
    fleet_rows,
    top_processes,
)
from hostvitals.collector.live.updates import SharedUpdates, Update
from hostvitals.collector.live.watch import WatchRegistry
from hostvitals.collector.live.workloads import WORKLOAD_METRICS, workloads
from hostvitals.shared.codec import MAX_HOST_LEN

router = APIRouter(tags=["live"])

KEEPALIVE_S: Final = 10.0
RETRY_MS: Final = 2000
PROCESSES_SHOWN: Final = 15
WORKLOADS_SHOWN: Final = 50
HOST_EVENT_METRICS: Final = ROW_METRICS | PROCESS_METRICS | WORKLOAD_METRICS
"""The series a host's event is made from: its row, top processes and workloads."""
Snapshot = Callable[[float], Awaitable[tuple[str, Any]]]
"""Given the current time, the event name and its data."""
Source = Callable[[float], Awaitable[Update]]
"""Given the current time, the shared update to show."""


class StreamSlot:
    """One open stream; ``release`` may be called any number of times."""

    def __init__(self, slots: StreamSlots) -> None:
        self._slots = slots
        self._released = False

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._slots._give_back()


class StreamSlots:
    """Counts open streams against a limit; the counts are exported as metrics."""

    def __init__(self, limit: int, registry: CollectorRegistry) -> None:
        self.limit = limit
        self._open = 0
        self._lock = threading.Lock()
        self.opened = Counter(
            "hostvitals_collector_streams_opened",
            "Live dashboard streams opened.",
            registry=registry,
        )
        self.rejected = Counter(
            "hostvitals_collector_streams_rejected",
            "Live dashboard streams refused because ui.max_streams were open.",
            registry=registry,
        )
        self.open_streams = Gauge(
            "hostvitals_collector_streams_open",
            "Live dashboard streams open now.",
            registry=registry,
        )
        self.open_streams.set_function(lambda: self._open)
        self.ended = Counter(
            "hostvitals_collector_streams_ended",
            "Live streams ended by the collector because their credential no longer holds "
            "(the session ended, the token was revoked), by reason.",
            ("reason",),
            registry=registry,
        )
        for reason in REASONS:
            self.ended.labels(reason)

    @property
    def open(self) -> int:
        return self._open

    def acquire(self) -> StreamSlot | None:
        with self._lock:
            if self._open >= self.limit:
                self.rejected.inc()
                return None
            self._open += 1
        self.opened.inc()
        return StreamSlot(self)

    def _give_back(self) -> None:
        with self._lock:
            self._open -= 1


def encode_event(name: str, now: float, payload: bytes) -> bytes:
    """One live event: ``{"now": <server time>, "data": <payload>}``."""
    body = b'{"now":' + orjson.dumps(now) + b',"data":' + payload + b"}"
    return format_sse_event(event=name, data_str=body.decode())


def shared_updates(interval_s: float, registry: CollectorRegistry | None) -> SharedUpdates:
    return SharedUpdates(interval_s, encode_event, registry=registry)


async def live_events(
    source: Source,
    *,
    interval_s: float,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    keepalive_s: float = KEEPALIVE_S,
    still_valid: Check = lambda: None,
    recheck_s: float = 5.0,
) -> AsyncIterator[bytes]:
    """Server-sent events: ``source``'s update each ``interval_s``, sent when it changed.

    Every ``recheck_s`` it asks ``still_valid``; a reason ends the stream with an ``end``
    event."""
    yield format_sse_event(retry=RETRY_MS, comment="hostvitals live stream")
    last = -1
    quiet_since = checked = clock()
    while True:
        now = clock()
        if now - checked >= recheck_s:
            checked = now
            reason = still_valid()
            if reason is not None:
                end = {"reason": reason, "message": MESSAGES.get(reason, reason)}
                yield format_sse_event(event="end", data_str=orjson.dumps(end).decode())
                return
        update = await source(now)
        if update.version != last:
            event = update.event_after(last)
            last = update.version
            quiet_since = now
            yield event
        elif now - quiet_since >= keepalive_s:
            quiet_since = now
            yield format_sse_event(comment="keep-alive")
        await sleep(interval_s)


def fleet_snapshot(
    table: FleetTable,
    cluster: Cluster,
    watch: WatchRegistry,
    context: Callable[[], RowContext] = RowContext,
) -> Snapshot:
    async def snap(now: float) -> tuple[str, Any]:
        watch.fleet()
        return "fleet", {"hosts": await fleet_rows(table, cluster, now, context=context())}

    return snap


def host_snapshot(
    store: CurrentStore,
    cluster: Cluster,
    watch: WatchRegistry,
    host: str,
    context: Callable[[], RowContext] = RowContext,
) -> Snapshot:
    async def snap(now: float) -> tuple[str, Any]:
        watch.host(host)
        found = store.host(host, now, metrics=HOST_EVENT_METRICS)
        if cluster.enabled:
            peer = await cluster.owner(host, found.last_seen if found is not None else None)
            if peer is not None:
                return "host", await _peer_host(cluster, peer, host)
        if found is None:
            return "host", {"host": host, "row": None, "processes": [], "workloads": []}
        return "host", {
            "host": host,
            "row": fleet_row(found, context()),
            "processes": top_processes(found, PROCESSES_SHOWN),
            "workloads": workloads(found, WORKLOADS_SHOWN),
        }

    return snap


async def _peer_host(cluster: Cluster, peer: str, host: str) -> dict[str, Any]:
    """A host's row, top processes and workloads from the peer that heard from it last."""
    fleet, processes, found = await asyncio.gather(
        cluster.ask(peer, "/api/v1/fleet", {"host": host}),
        cluster.ask(
            peer, "/api/v1/metrics/processes", {"host": host, "limit": str(PROCESSES_SHOWN)}
        ),
        cluster.ask(
            peer, "/api/v1/metrics/workloads", {"host": host, "limit": str(WORKLOADS_SHOWN)}
        ),
    )
    rows = fleet.get("hosts", []) if isinstance(fleet, dict) else []
    row = next((r for r in rows if isinstance(r, dict) and r.get("host") == host), None)
    return {
        "host": host,
        "row": row,
        "processes": processes if isinstance(processes, list) else [],
        "workloads": found if isinstance(found, list) else [],
    }


async def _guarded(events: AsyncIterator[bytes], slot: StreamSlot) -> AsyncIterator[bytes]:
    try:
        async for event in events:
            yield event
    finally:
        slot.release()


@router.get(
    "/api/v1/stream",
    summary="Live updates as server-sent events (fleet, or one host)",
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def stream(
    request: Request,
    host: str | None = Query(
        None,
        min_length=1,
        max_length=MAX_HOST_LEN,
        description="one host's row and top processes; the whole fleet when absent",
    ),
) -> Response:
    settings: UiSettings = request.app.state.settings.ui
    slots: StreamSlots = request.app.state.streams
    store: CurrentStore = request.app.state.current
    slot = slots.acquire()
    if slot is None:
        raise ApiError(
            503,
            "unavailable",
            f"too many live streams are open ({slots.limit}, ui.max_streams); "
            "close a dashboard tab or raise the limit",
            headers={"Retry-After": "5"},
        )
    cluster: Cluster = request.app.state.cluster
    watch = watching(request)
    app = request.app

    def context() -> RowContext:
        return app_row_context(app)

    snapshot = (
        fleet_snapshot(request.app.state.fleet_table, cluster, watch, context)
        if host is None
        else host_snapshot(store, cluster, watch, host, context)
    )
    updates: SharedUpdates = request.app.state.stream_updates

    def source(now: float) -> Awaitable[Update]:
        return updates.get(host, now, snapshot)

    check = credential_check(request.scope, request.app.state.authn)

    def still_valid() -> str | None:
        reason = check()
        if reason is not None:
            slots.ended.labels(reason).inc()
        return reason

    events = live_events(
        source,
        interval_s=settings.stream_interval_s,
        still_valid=still_valid,
        recheck_s=settings.stream_recheck_s,
    )
    return StreamingResponse(
        _guarded(events, slot),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        # Also when the stream never started (the client left before the first event).
        background=BackgroundTask(slot.release),
    )
