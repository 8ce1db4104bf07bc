"""Replicas that share a fleet, each answering for all of it.

Replicas scale ingest out: agents reach them through a load balancer, and each replica keeps
the live view (hosts, newest values, top processes) of the frames it received itself. With
``cluster.peers`` listing the replicas' URLs, the live answers (``/api/v1/hosts``,
``/api/v1/fleet``, ``/api/v1/metrics/current``, ``/api/v1/metrics/processes``, the live
stream) and the HostDown rule combine a replica's own view with its peers': for every host,
the replica that heard from it last answers. Peers are asked for their own view only
(``scope=local``), concurrently, with a short timeout, and each answer is reused for
``cluster.peer_cache_s`` so a hundred open dashboards cost one request per peer and period.

The list may name the replica itself (one list for all of them): every replica answers with
its instance id in ``X-Hostvitals-Instance`` and ignores its own; a replica reached under two
URLs (by name in ``cluster.peers`` and by address from DNS) is asked under the first only.
A peer that does not answer is left out of the answer and counted; it never fails a request.
With ``cluster.peers_from_dns`` the list follows DNS (see ``discovery.py``): the static peers,
then the addresses found; a peer's series in the metrics below go when it leaves the list.

Alerts are evaluated and notified by one replica, the leader: the first replica of the
list that answers (the list is the same on every replica and names each of them). The others
forward the alerting API (rules, alerts, silences, notifiers, SLOs) to it, so a silence set
through any replica holds. When the leader stops answering the next one in
the list takes over with its own alert state: notifications are at least once across a
failover, and silences set on the old leader return with it.

With auth on, replicas present the cluster's peer token (``cluster.peer_token_file``) as a
bearer token on every request to each other, and verify each other's certificate against
``cluster.peer_ca_file`` (see :func:`peer_ssl_context`). A peer that refuses the token (401 or
403, or 429 once it has been wrong too often) is counted in
``hostvitals_collector_peer_refused_total`` as well, and left out the same
way.

History, Prometheus queries and rollups need none of this: all replicas write to and read
from the same VictoriaMetrics instances.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Final

import aiohttp
import orjson
from prometheus_client import CollectorRegistry, Counter

from hostvitals.collector.live.current import HostSnapshot

log = logging.getLogger(__name__)

INSTANCE_HEADER: Final = "X-Hostvitals-Instance"
SCOPE_LOCAL: Final = "local"
CLUSTER_PATH: Final = "/api/v1/cluster"
FORWARDED_HEADERS: Final = ("content-type", "accept")

Row = dict[str, Any]
REFUSED: Final = (401, 403, 429)  # 429: throttled for presenting an unknown token


def peer_ssl_context(ca_file: Path | None) -> ssl.SSLContext:
    """How this replica checks its peers' certificates: against ``ca_file``, else the system
    CAs; host names are checked too."""
    return ssl.create_default_context(cafile=str(ca_file) if ca_file is not None else None)


class PeerUnavailable(Exception):
    def __init__(self, peer: str, reason: str) -> None:
        self.peer = peer
        super().__init__(f"the replica at {peer} did not answer: {reason}")


class Cluster:
    """This replica's peers, asked for their own live view."""

    def __init__(
        self,
        peers: Iterable[str],
        *,
        timeout_s: float = 1.0,
        cache_s: float = 1.0,
        registry: CollectorRegistry | None = None,
        instance: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        token: Callable[[], str | None] = lambda: None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        """``token`` gives the peer token to send (None: send none); ``tls`` checks the
        peers' certificates (None: the system CAs)."""
        self.instance = instance or uuid.uuid4().hex
        self._token = token
        self._tls = tls
        self._static = [p.rstrip("/") for p in peers]
        self.peers = list(self._static)  # replaced, never changed in place: loops may hold it
        self._server_names: dict[str, str] = {}  # peer URL -> the name its certificate has
        self._instances: dict[str, str] = {}  # peer URL -> its instance id, while it answers
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._cache_s = cache_s
        self._clock = clock
        self._session: aiohttp.ClientSession | None = None
        self._closing: asyncio.Task[None] | None = None
        self._self_urls: set[str] = set()
        self._cache: dict[tuple[str, str, tuple[tuple[str, str], ...]], tuple[float, Any]] = {}
        self._inflight: dict[tuple[str, str, tuple[tuple[str, str], ...]], asyncio.Task[Any]] = {}
        self.errors = Counter(
            "hostvitals_collector_peer_errors_total",
            "Requests to peer replicas that failed (no answer in time, an error status, or "
            "an answer that is not a live view); the peer is left out of that answer.",
            ["peer"],
            registry=registry,
        )
        self.refused = Counter(
            "hostvitals_collector_peer_refused_total",
            "Requests to peer replicas answered 401, 403 or 429: the peer token is missing, wrong "
            "or not the peer's (also counted in hostvitals_collector_peer_errors_total).",
            ["peer"],
            registry=registry,
        )
        for peer in self.peers:
            self.errors.labels(peer)
            self.refused.labels(peer)

    @property
    def enabled(self) -> bool:
        return bool(self.peers)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(ssl=self._tls) if self._tls is not None else None
            self._session = aiohttp.ClientSession(timeout=self._timeout, connector=connector)
        return self._session

    def retrust(self, tls: ssl.SSLContext | None) -> None:
        """Check the peers' certificates with ``tls`` from the next request on (its CA file
        read again); open connections are closed."""
        self._tls = tls
        old, self._session = self._session, None
        if old is None:
            return
        with contextlib.suppress(RuntimeError):  # no loop running: nothing can be using it
            self._closing = asyncio.get_running_loop().create_task(old.close())

    def _credentials(self) -> dict[str, str]:
        token = self._token()
        return {} if token is None else {"Authorization": f"Bearer {token}"}

    def discovered(self, found: Iterable[str], server_name: str | None) -> None:
        """The peers are the static ones and then ``found`` (from DNS, in the order every
        replica agrees on); over HTTPS the certificate of each found one must name
        ``server_name``."""
        static = set(self._static)
        added = [p for p in dict.fromkeys(found) if p not in static]
        peers = [*self._static, *added]
        if peers == self.peers:
            return
        log.info("peers now: %s", ", ".join(peers))
        gone = set(self.peers) - set(peers)
        self._server_names = {} if server_name is None else dict.fromkeys(added, server_name)
        self.peers = peers
        for peer in gone:
            self._instances.pop(peer, None)
            for counter in (self.errors, self.refused):
                with contextlib.suppress(KeyError):
                    counter.remove(peer)
        for key in [k for k in self._cache if k[0] in gone]:
            del self._cache[key]
        for peer in added:
            self.errors.labels(peer)
            self.refused.labels(peer)

    def server_name(self, peer: str) -> str | None:
        """The name ``peer``'s certificate is checked against when it is not its URL's host
        (a peer found in DNS: the looked-up name)."""
        return self._server_names.get(peer)

    def others(self) -> list[str]:
        """The peers that are not this replica (as far as it has found out), each replica
        once: under the first of its URLs that answered."""
        seen: set[str] = set()
        chosen = []
        for peer in self.peers:
            if peer in self._self_urls:
                continue
            instance = self._instances.get(peer)
            if instance is not None:
                if instance in seen:
                    continue
                seen.add(instance)
            chosen.append(peer)
        return chosen

    async def gather(self, path: str, params: Mapping[str, str] | None = None) -> list[Any]:
        """The ``data`` of every other peer's answer to ``GET path?params&scope=local``."""
        asked = (self.ask(p, path, params or {}) for p in self.others())
        return [a for a in await asyncio.gather(*asked) if a is not None]

    async def ask(self, peer: str, path: str, params: Mapping[str, str]) -> Any:
        """One peer's ``data`` for ``GET path?params&scope=local`` (None when it failed)."""
        query = tuple(sorted({**params, "scope": SCOPE_LOCAL}.items()))
        return await self._cached(peer, path, query)

    async def leader(self) -> str | None:
        """The replica that evaluates alerts, or None when it is this one (or there are no
        peers): the first replica of the list that answers."""
        for peer in self.peers:
            answer = await self.ask(peer, CLUSTER_PATH, {})
            if peer in self._self_urls:
                return None
            if answer is not None:
                return peer
        return None

    async def forward(
        self,
        peer: str,
        method: str,
        path: str,
        query: list[tuple[str, str]],
        body: bytes,
        headers: Mapping[str, str],
    ) -> tuple[int, bytes, str]:
        """Send a request on to ``peer`` (with ``scope=local``): its status, body and type.

        Raises ``PeerUnavailable`` when the peer does not answer in time.
        """
        params = [(k, v) for k, v in query if k != "scope"] + [("scope", SCOPE_LOCAL)]
        sent = {k: v for k, v in headers.items() if k.lower() in FORWARDED_HEADERS}
        sent.update(self._credentials())  # the caller's own credential stays here
        try:
            async with self._client().request(
                method,
                peer + path,
                params=params,
                data=body or None,
                headers=sent,
                server_hostname=self.server_name(peer),
            ) as response:
                payload = await response.read()
                kind = response.headers.get("Content-Type", "application/json")
                if response.status in REFUSED:
                    self._failed(peer)
                    self._refused(peer, response.status)
                    raise PeerUnavailable(peer, f"it refused the peer token ({response.status})")
                return response.status, payload, kind
        except (aiohttp.ClientError, TimeoutError) as exc:
            self._failed(peer)
            raise PeerUnavailable(peer, str(exc) or type(exc).__name__) from None

    async def owner(self, host: str, local_last_seen: float | None) -> str | None:
        """The peer that heard from ``host`` last, or None when this replica did (or nobody)."""
        peers = self.others()
        answers = await asyncio.gather(*(self.ask(p, "/api/v1/hosts", {}) for p in peers))
        best: tuple[float, str] | None = None
        for peer, rows in zip(peers, answers, strict=True):
            for row in rows if isinstance(rows, list) else ():
                if isinstance(row, dict) and row.get("host") == host:
                    when = row.get("last_seen")
                    if isinstance(when, int | float) and (best is None or when > best[0]):
                        best = (float(when), peer)
        if best is None or (local_last_seen is not None and local_last_seen >= best[0]):
            return None
        return best[1]

    async def _cached(self, peer: str, path: str, query: tuple[tuple[str, str], ...]) -> Any:
        key = (peer, path, query)
        kept = self._cache.get(key)
        now = self._clock()
        if kept is not None and now - kept[0] < self._cache_s:
            return kept[1]
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.ensure_future(self._fetch(peer, path, query))
            self._inflight[key] = task
            task.add_done_callback(lambda _t: self._inflight.pop(key, None))
        data = await asyncio.shield(task)
        if len(self._cache) > 4096:
            self._cache.clear()
        self._cache[key] = (self._clock(), data)
        return data

    async def _fetch(self, peer: str, path: str, query: tuple[tuple[str, str], ...]) -> Any:
        try:
            client = self._client()
            sent = self._credentials()
            async with client.get(
                peer + path,
                params=list(query),
                headers=sent,
                server_hostname=self.server_name(peer),
            ) as response:
                instance = response.headers.get(INSTANCE_HEADER)
                if instance == self.instance:
                    self._self_urls.add(peer)  # this replica itself, listed among the peers
                    return None
                body = await response.read()
                if response.status in REFUSED:
                    self._refused(peer, response.status)
                if response.status != 200:
                    raise ValueError(f"{path} answered {response.status}")
            if instance is not None and peer in self.peers:
                self._instances[peer] = instance
            doc = orjson.loads(body)
            if not (isinstance(doc, dict) and doc.get("status") == "success" and "data" in doc):
                raise ValueError(f"{path} answered something that is not a live view")
            return doc["data"]
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            self._instances.pop(peer, None)
            self._failed(peer)
            log.warning("peer %s left out of a live answer: %s", peer, exc or type(exc).__name__)
            return None

    def _failed(self, peer: str) -> None:
        if peer in self.peers:  # not one that left the list while it was being asked
            self.errors.labels(peer).inc()

    def _refused(self, peer: str, status: int) -> None:
        if peer in self.peers:
            self.refused.labels(peer).inc()
        log.warning("peer %s refused this replica's peer token (%d)", peer, status)


def newest_per_host(
    groups: Iterable[Iterable[Any]], newest: str = "last_seen", key: str = "host"
) -> list[Row]:
    """Rows of several replicas, one per host: the one with the biggest ``newest``, by host.

    Rows that are not objects with a string ``key`` and a number ``newest`` are left out (a
    peer running another version must not break the answer).
    """
    chosen: dict[str, Row] = {}
    for rows in groups:
        for row in rows:
            if not isinstance(row, dict):
                continue
            name, when = row.get(key), row.get(newest)
            if not isinstance(name, str) or not isinstance(when, int | float):
                continue
            held = chosen.get(name)
            if held is None or when > held[newest]:
                chosen[name] = row
    return [chosen[name] for name in sorted(chosen)]


def merge_snapshots(local: list[HostSnapshot], peers: Iterable[Any]) -> list[HostSnapshot]:
    """This replica's host snapshots and its peers' ``/api/v1/hosts`` rows, the newest per
    host; the peers' hosts come without series (what a status check needs)."""
    by_host = {h.host: h for h in local}
    for row in newest_per_host(peers):
        held = by_host.get(row["host"])
        if held is not None and held.last_seen >= row["last_seen"]:
            continue
        try:
            by_host[row["host"]] = HostSnapshot(
                host=row["host"],
                agent_id=str(row.get("agent_id", "")),
                last_seen=float(row["last_seen"]),
                interval_s=float(row["interval_s"]),
                flush_period_s=float(row["flush_period_s"]),
                newest_ms=int(float(row["timestamp"]) * 1000),
                status=row["status"] if row.get("status") in ("up", "stale", "down") else "up",
                series=(),
                processes=None,
            )
        except (KeyError, TypeError, ValueError):
            continue  # a peer of another version: left out
    return [by_host[name] for name in sorted(by_host)]
