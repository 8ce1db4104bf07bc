"""The live view, answered from memory: known hosts, current values, top processes.

Host status: a host is expected to flush a frame every flush period (the span of its last
frame's ticks plus its sampling interval). It is ``up`` while the last frame is at most
``live.stale_after_flushes`` (3) periods old, ``stale`` after that, and ``down`` after
``live.down_after_flushes`` (10) periods.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
from fastapi import APIRouter, Query, Request, Response

from hostvitals.collector.errors import ApiError
from hostvitals.collector.live.cluster import INSTANCE_HEADER, SCOPE_LOCAL, Cluster, newest_per_host
from hostvitals.collector.live.current import (
    PROCESS_CPU,
    PROCESS_MEMORY,
    CurrentStore,
    HostSnapshot,
    ProcessEntry,
)
from hostvitals.collector.live.fleet import host_row
from hostvitals.collector.live.summary import summarise

router = APIRouter(tags=["live"])


Scope = Literal["cluster", "local"]
SCOPE = Query(
    "cluster",
    description="cluster: every replica's hosts (cluster.peers); local: this replica's own",
)


def _success(request: Request, data: Any) -> Response:
    # orjson straight to bytes: a host can have thousands of series.
    return mark(
        request,
        Response(orjson.dumps({"status": "success", "data": data}), media_type="application/json"),
    )


def mark(request: Request, response: Response) -> Response:
    """Say which replica answered: one that finds itself among its peers stops asking."""
    cluster: Cluster = request.app.state.cluster
    response.headers[INSTANCE_HEADER] = cluster.instance
    return response


def peers_to_ask(request: Request, scope: str) -> Cluster | None:
    """The peers to ask as well, or None (no peers, or a peer asking for this view only)."""
    cluster: Cluster = request.app.state.cluster
    return cluster if cluster.enabled and scope != SCOPE_LOCAL else None


@dataclass
class CurrentCache:
    """Encoded ``/current`` answers, reused until the live view changes or ``max_age_s`` passes.

    Dashboards poll ``/current`` far more often than frames arrive; encoding every series of a
    host for each poll was most of the endpoint's cost. The age bound keeps expiry of old
    series and hosts visible within a second. Bounded: cleared when it holds too many hosts.
    """

    max_age_s: float = 1.0
    max_entries: int = 1024
    _entries: dict[str | None, tuple[int, float, bytes]] = field(default_factory=dict)

    def get(self, host: str | None, version: int, now: float) -> bytes | None:
        entry = self._entries.get(host)
        if entry is None or entry[0] != version or now - entry[1] > self.max_age_s:
            return None
        return entry[2]

    def put(self, host: str | None, version: int, now: float, body: bytes) -> None:
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[host] = (version, now, body)


def _store(request: Request) -> CurrentStore:
    store: CurrentStore = request.app.state.current
    return store


@router.get("/api/v1/hosts", summary="Hosts that reported, with their status")
async def hosts(request: Request, scope: Scope = SCOPE) -> Response:
    rows = [host_row(h) for h in _store(request).hosts(time.time(), series=False)]
    cluster = peers_to_ask(request, scope)
    if cluster is not None:
        rows = newest_per_host([rows, *await cluster.gather("/api/v1/hosts")])
    return _success(request, rows)


@router.get("/api/v1/metrics/current", summary="The newest value of every series, per host")
async def current(
    request: Request,
    host: str | None = Query(None, description="one host; all hosts when absent"),
    scope: Scope = SCOPE,
) -> Response:
    cluster = peers_to_ask(request, scope)
    if cluster is not None:
        return await _current_of_cluster(request, cluster, host)
    store = _store(request)
    cache: CurrentCache = request.app.state.current_cache
    now = time.time()
    version = store.version  # read before the snapshot: a newer frame invalidates this entry
    body = cache.get(host, version, now)
    if body is None:
        if host is None:
            snapshots = store.hosts(now)
        else:
            found = store.host(host, now)
            if found is None:
                raise ApiError(404, "not_found", f"unknown host '{host}': it has not reported")
            snapshots = [found]
        body = orjson.dumps({"status": "success", "data": [_current(s) for s in snapshots]})
        cache.put(host, version, now, body)
    return mark(request, Response(body, media_type="application/json"))


async def _current_of_cluster(request: Request, cluster: Cluster, host: str | None) -> Response:
    store = _store(request)
    now = time.time()
    if host is None:
        local = [_current(s) for s in store.hosts(now)]
        peers = await cluster.gather("/api/v1/metrics/current")
        return _success(request, newest_per_host([local, *peers], newest="timestamp"))
    found = store.host(host, now)
    peer = await cluster.owner(host, found.last_seen if found is not None else None)
    if peer is not None:
        data = await cluster.ask(peer, "/api/v1/metrics/current", {"host": host})
        if isinstance(data, list):
            return _success(request, data)
    if found is None:
        raise ApiError(404, "not_found", f"unknown host '{host}': it has not reported")
    return _success(request, [_current(found)])


def _current(snap: HostSnapshot) -> dict[str, Any]:
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
    return {
        "host": snap.host,
        "timestamp": snap.newest_ms / 1000.0,
        "interval_s": snap.interval_s,
        "series": series,
        "summary": summarise(snap.series),
    }


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
            return _success(request, [])
        if len(names) > 1:
            raise ApiError(
                400,
                "bad_data",
                f"query parameter 'host' is required when several hosts are known: "
                f"{_listing(names)}",
            )
        host = names[0]
    snap = store.host(host, now)
    if cluster is not None:
        peer = await cluster.owner(host, snap.last_seen if snap is not None else None)
        if peer is not None:
            params = {"host": host, "limit": str(limit), "sort": sort}
            data = await cluster.ask(peer, "/api/v1/metrics/processes", params)
            if isinstance(data, list):
                return _success(request, data)
    if snap is None:
        raise ApiError(404, "not_found", f"unknown host '{host}': it has not reported")
    if snap.processes is None:
        return _success(request, [])

    def key(entry: ProcessEntry) -> tuple[float, str]:
        value = entry.cpu_usage_ratio if sort == "cpu" else entry.resident_memory_bytes
        return (-(value if value is not None else float("-inf")), str(entry.pid))

    ranked = sorted(snap.processes.processes, key=key)[:limit]
    return _success(
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


def _listing(names: list[str], shown: int = 20) -> str:
    text = ", ".join(names[:shown])
    return text if len(names) <= shown else f"{text} and {len(names) - shown} more"
