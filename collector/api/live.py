"""The live view, answered from memory: known hosts, current values, top processes.

Host status: a host is expected to flush a frame every flush period (the span of its last
frame's ticks plus its sampling interval). It is ``up`` while the last frame is at most
``live.stale_after_flushes`` (3) periods old, ``stale`` after that, and ``down`` after
``live.down_after_flushes`` (10) periods.
"""

from __future__ import annotations

import time
from typing import Any, Literal

import orjson
from fastapi import APIRouter, Query, Request, Response

from hostvitals.collector.api.params import SCOPE, Scope, peers_to_ask
from hostvitals.collector.api.responses import mark, success
from hostvitals.collector.api.watching import watching
from hostvitals.collector.errors import ApiError
from hostvitals.collector.live.answers import CurrentCache
from hostvitals.collector.live.cluster import Cluster, newest_per_host
from hostvitals.collector.live.current import (
    PROCESS_CPU,
    PROCESS_MEMORY,
    CurrentStore,
    HostSnapshot,
    ProcessEntry,
)
from hostvitals.collector.live.fleet import host_row
from hostvitals.collector.live.paging import page_of
from hostvitals.collector.live.summary import summarise
from hostvitals.collector.live.workloads import workloads
from hostvitals.collector.selfmetrics import SelfMetrics

router = APIRouter(tags=["live"])


def _store(request: Request) -> CurrentStore:
    store: CurrentStore = request.app.state.current
    return store


@router.get("/api/v1/hosts", summary="Hosts that reported, with their status")
async def hosts(request: Request, scope: Scope = SCOPE) -> Response:
    rows = [host_row(h) for h in _store(request).hosts(time.time(), series=False)]
    cluster = peers_to_ask(request, scope)
    if cluster is not None:
        rows = newest_per_host([rows, *await cluster.gather("/api/v1/hosts")])
    return success(request, rows)


@router.get("/api/v1/metrics/current", summary="The newest value of every series, per host")
async def current(
    request: Request,
    host: str | None = Query(None, description="one host; all hosts when absent"),
    limit: int | None = Query(
        None, ge=1, description="most series in the answer (at most live.current_max_series)"
    ),
    after: str | None = Query(None, description="the next page: hosts after this one"),
    scope: Scope = SCOPE,
) -> Response:
    """At most ``limit`` series (``live.current_max_series``): hosts in name order while
    they fit; ``next_after`` names the last host when more follow, and a host cut short is
    marked ``truncated`` with its ``series_total``."""
    if host is not None:
        watching(request).host(host)
    most = request.app.state.settings.live.current_max_series
    cluster = peers_to_ask(request, scope)
    if cluster is not None:
        return await _current_of_cluster(request, cluster, host, most)
    store = _store(request)
    cache: CurrentCache = request.app.state.current_cache
    now = time.time()
    version = store.version  # read before the snapshot: a newer frame invalidates this entry
    plain = limit is None and after is None  # only those answers are cached
    body = cache.get(host, version, now) if plain else None
    if body is None:
        if host is None:
            snapshots = store.hosts(now)
        else:
            found = store.host(host, now)
            if found is None:
                raise ApiError(404, "not_found", f"unknown host '{host}': it has not reported")
            snapshots = [found]
        page = page_of(snapshots, min(limit or most, most), after)
        answer: dict[str, Any] = {
            "status": "success",
            "data": [_current(s, shown) for s, shown in page.hosts],
        }
        if page.next_after is not None:
            answer["next_after"] = page.next_after
        if page.next_after is not None or any("truncated" in e for e in answer["data"]):
            metrics: SelfMetrics = request.app.state.metrics
            metrics.current_cut.inc()
        body = orjson.dumps(answer)
        if plain:
            cache.put(host, version, now, body)
    return mark(request, Response(body, media_type="application/json"))


async def _current_of_cluster(
    request: Request, cluster: Cluster, host: str | None, most: int
) -> Response:
    store = _store(request)
    now = time.time()
    if host is None:
        local = [_current(s, most) for s in store.hosts(now)]
        peers = await cluster.gather("/api/v1/metrics/current")
        return success(request, newest_per_host([local, *peers], newest="timestamp"))
    found = store.host(host, now)
    peer = await cluster.owner(host, found.last_seen if found is not None else None)
    if peer is not None:
        data = await cluster.ask(peer, "/api/v1/metrics/current", {"host": host})
        if isinstance(data, list):
            return success(request, data)
    if found is None:
        raise ApiError(404, "not_found", f"unknown host '{host}': it has not reported")
    return success(request, [_current(found, most)])


def _current(snap: HostSnapshot, most: int) -> dict[str, Any]:
    """The host's current values, at most ``most`` series of them."""
    series: list[dict[str, Any]] = [
        {"metric": p.metric, "labels": p.labels, "value": p.value, "rate": p.rate}
        for p in snap.series
    ]
    if snap.processes is not None:
        for proc in snap.processes.processes:
            labels = {"pid": str(proc.pid), "name": proc.name, "user": proc.user}
            for metric, value in (
                (PROCESS_CPU, proc.cpu_usage_ratio),
                (PROCESS_MEMORY, proc.resident_memory_bytes),
            ):
                if value is not None:
                    series.append(
                        {"metric": metric, "labels": labels, "value": value, "rate": None}
                    )
    series.sort(key=lambda s: (s["metric"], sorted(s["labels"].items())))
    answer = {
        "host": snap.host,
        "timestamp": snap.newest_ms / 1000.0,
        "interval_s": snap.interval_s,
        "series": series[:most],
        "summary": summarise(snap.series),
    }
    if len(series) > most:
        answer["truncated"] = True
        answer["series_total"] = len(series)
    return answer


@router.get("/api/v1/metrics/processes", summary="The newest top-process snapshot of a host")
async def processes(
    request: Request,
    host: str | None = Query(None, description="required when more than one host is known"),
    limit: int = Query(10, ge=1, le=100),
    sort: Literal["cpu", "memory"] = Query("cpu"),
    scope: Scope = SCOPE,
) -> Response:
    store = _store(request)
    now = time.time()
    cluster = peers_to_ask(request, scope)
    if host is None:
        names = store.host_names(now)
        if cluster is not None:
            theirs = newest_per_host(await cluster.gather("/api/v1/hosts"))
            names = sorted({*names, *(row["host"] for row in theirs)})
        if not names:
            return success(request, [])
        if len(names) > 1:
            raise ApiError(
                400,
                "bad_data",
                f"query parameter 'host' is required when several hosts are known: "
                f"{_listing(names)}",
            )
        host = names[0]
    watching(request).host(host)
    snap = store.host(host, now)
    if cluster is not None:
        peer = await cluster.owner(host, snap.last_seen if snap is not None else None)
        if peer is not None:
            params = {"host": host, "limit": str(limit), "sort": sort}
            data = await cluster.ask(peer, "/api/v1/metrics/processes", params)
            if isinstance(data, list):
                return success(request, data)
    if snap is None:
        raise ApiError(404, "not_found", f"unknown host '{host}': it has not reported")
    if snap.processes is None:
        return success(request, [])

    def key(entry: ProcessEntry) -> tuple[float, str]:
        value = entry.cpu_usage_ratio if sort == "cpu" else entry.resident_memory_bytes
        return (-(value if value is not None else float("-inf")), str(entry.pid))

    ranked = sorted(snap.processes.processes, key=key)[:limit]
    return success(
        request,
        [
            {
                "pid": p.pid,
                "name": p.name,
                "user": p.user,
                "cpu_usage_ratio": p.cpu_usage_ratio,
                "resident_memory_bytes": p.resident_memory_bytes,
            }
            for p in ranked
        ],
    )


@router.get(
    "/api/v1/metrics/workloads",
    summary="A host's services and containers now: CPU, memory, I/O and pressure",
)
async def host_workloads(
    request: Request,
    host: str = Query(..., min_length=1, description="the host"),
    limit: int = Query(50, ge=1, le=200),
    sort: Literal["cpu_cores", "memory_bytes"] = Query("cpu_cores"),
    scope: Scope = SCOPE,
) -> Response:
    """From the live view: the workloads the agent's cgroups sampler reported at its newest
    scan (its top N by CPU and by memory, and ``other``, the sum of the rest). Rates are per
    second: ``cpu_cores`` in cores, I/O in bytes, pressure (``*_waiting_ratio``) as the share
    of time some task waited; a rate is null until two scans arrived."""
    watching(request).host(host)
    store = _store(request)
    now = time.time()
    snap = store.host(host, now)
    cluster = peers_to_ask(request, scope)
    if cluster is not None:
        peer = await cluster.owner(host, snap.last_seen if snap is not None else None)
        if peer is not None:
            params = {"host": host, "limit": str(limit), "sort": sort}
            data = await cluster.ask(peer, "/api/v1/metrics/workloads", params)
            if isinstance(data, list):
                return success(request, data)
    if snap is None:
        raise ApiError(404, "not_found", f"unknown host '{host}': it has not reported")
    return success(request, workloads(snap, limit, sort))


def _listing(names: list[str], shown: int = 20) -> str:
    text = ", ".join(names[:shown])
    return text if len(names) <= shown else f"{text} and {len(names) - shown} more"
