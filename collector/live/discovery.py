"""Peers found in DNS: every address of one name is a replica (``cluster.peers_from_dns``).

An autoscaler adds and removes replicas; a static ``cluster.peers`` does not follow. With
``cluster.peers_from_dns: https://collector-peers.hostvitals.svc:8000`` each replica looks up
the A and AAAA records of that name every ``cluster.peer_dns_interval_s`` and makes each
address a peer at the URL's scheme and port (``https://10.1.2.3:8000``). The name is a
Kubernetes headless service (one record per pod, not-ready ones too with
``publishNotReadyAddresses``) or a compose service name (Docker's DNS answers every replica's
address).

Why addresses and not SRV records: Docker's DNS serves no SRV records, while A records work
with both, and with any DNS that lists replicas under one name. Over HTTPS the connection goes
to the address but the certificate is checked against the looked-up name (the TLS server name
is that name), never skipped: one name in the certificate covers every replica there will
ever be, where per-replica names (``collector-7.collector-peers...``) would need the
certificate remade, or a wildcard, for each one the autoscaler may start.

The list is the same on every replica, so the leader of alerting (the first peer that
answers) is the same: the addresses are sorted (IPv4 before IPv6, then by value), and static
``cluster.peers`` come first, in their order. An address is not a stable identity (a restarted
pod comes back with another): with addresses alone, a replica that joins with a lower address
than the leader's takes alerting over, with its own alert state (see ``cluster.py``). Listing
one stable replica in ``cluster.peers`` as well (``collector-0`` of a StatefulSet) keeps it
the leader whenever it answers; the replica found under both URLs is asked once (the cluster
knows replicas by their instance id, as it knows itself).

The replica finds itself among the addresses the same way it did in a static list: its own
answer carries its instance id. A lookup that fails (no such name, no address, no answer in
time, a DNS error) keeps the last good list and is counted in
``hostvitals_collector_peer_discovery_failures_total{reason}``; the first lookup runs before
the collector serves, so it starts with its peers when DNS answers. Lookups go through
dnspython's asyncio resolver on the event loop (no thread, a deadline of one interval), to
the servers of /etc/resolv.conf with its search domains and ``ndots``, or to
``cluster.peer_dns_nameservers`` (a Consul agent's DNS, say).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Final
from urllib.parse import urlsplit

import dns.asyncresolver
import dns.exception
import dns.nameserver
import dns.resolver
from prometheus_client import CollectorRegistry, Counter, Gauge

from hostvitals.collector.config.cluster import ClusterSettings, nameserver_address
from hostvitals.collector.live.cluster import Cluster

log = logging.getLogger(__name__)

Resolve = Callable[[str], Awaitable[Sequence[str]]]
"""A host name's addresses; raises :class:`LookupFailed`."""

REASONS: Final = ("nxdomain", "no_address", "timeout", "error")


class LookupFailed(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        super().__init__(detail)


def dns_resolve(nameservers: Sequence[tuple[str, int]], timeout_s: float) -> Resolve:
    """Look names up with dnspython: A and AAAA records, within ``timeout_s`` in all.

    ``nameservers`` empty: /etc/resolv.conf (its servers, search domains and ndots); else those
    servers, the name asked as given.
    """
    resolver: dns.asyncresolver.Resolver | None = None

    def configured() -> dns.asyncresolver.Resolver:
        nonlocal resolver
        if resolver is None:
            made = dns.asyncresolver.Resolver(configure=not nameservers)
            if nameservers:
                made.nameservers = [dns.nameserver.Do53Nameserver(a, p) for a, p in nameservers]
            made.lifetime = timeout_s
            resolver = made
        return resolver

    async def records(name: str, rdtype: str) -> list[str]:
        try:
            answer = await configured().resolve(name, rdtype, search=not nameservers)
        except dns.resolver.NoAnswer:
            return []  # the name has no record of this type
        return [rdata.to_text() for rdata in answer]

    async def resolve(name: str) -> list[str]:
        try:
            v4, v6 = await asyncio.gather(records(name, "A"), records(name, "AAAA"))
        except dns.resolver.NXDOMAIN:
            raise LookupFailed("nxdomain", f"{name} does not exist") from None
        except dns.exception.Timeout:
            raise LookupFailed("timeout", f"no answer for {name} in {timeout_s} s") from None
        except dns.exception.DNSException as exc:  # no server answered, or no configuration
            raise LookupFailed("error", f"{name}: {exc}") from None
        return v4 + v6

    return resolve


def peer_urls(scheme: str, port: int, addresses: Sequence[str]) -> list[str]:
    """One base URL per distinct address, in the order every replica agrees on."""
    unique = {ipaddress.ip_address(a) for a in addresses}
    ordered = sorted(unique, key=lambda a: (a.version, int(a)))
    return [f"{scheme}://{a if a.version == 4 else f'[{a}]'}:{port}" for a in ordered]


class PeerDiscovery:
    """Looks ``url``'s host up every ``interval_s`` and gives ``cluster`` what it found."""

    def __init__(
        self,
        url: str,
        cluster: Cluster,
        resolve: Resolve,
        *,
        interval_s: float,
        registry: CollectorRegistry | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.hostname is None or parts.scheme not in ("http", "https"):
            raise ValueError(f"not an http(s)://name:port URL: {url!r}")
        self.name = parts.hostname
        self.scheme = parts.scheme
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.interval_s = interval_s
        self._cluster = cluster
        self._resolve = resolve
        self._failing = False
        self.failures = Counter(
            "hostvitals_collector_peer_discovery_failures_total",
            "Lookups of cluster.peers_from_dns that failed, by reason (nxdomain, no_address, "
            "timeout, error); the last good list of peers is kept.",
            ["reason"],
            registry=registry,
        )
        for reason in REASONS:
            self.failures.labels(reason)
        self.found = Gauge(
            "hostvitals_collector_peer_discovery_peers",
            "Peers the last good lookup of cluster.peers_from_dns found (this replica too).",
            registry=registry,
        )

    async def refresh(self) -> bool:
        """One lookup; True when it found peers (and the cluster has them now)."""
        try:
            async with asyncio.timeout(self.interval_s):
                addresses = await self._resolve(self.name)
            if not addresses:
                raise LookupFailed("no_address", f"{self.name} has no A or AAAA record")
            urls = peer_urls(self.scheme, self.port, addresses)
        except TimeoutError:
            return self._failed("timeout", f"no answer for {self.name} in {self.interval_s} s")
        except LookupFailed as exc:
            return self._failed(exc.reason, str(exc))
        except ValueError as exc:  # an injected resolver's answer that is not an address
            return self._failed("error", str(exc))
        if self._failing:
            log.info("peers of %s found again", self.name)
            self._failing = False
        self.found.set(len(urls))
        self._cluster.discovered(urls, self.name if self.scheme == "https" else None)
        return True

    async def run(self) -> None:
        """Look up every interval until cancelled (the first lookup is :meth:`refresh`'s)."""
        while True:
            await asyncio.sleep(self.interval_s)
            await self.refresh()

    def _failed(self, reason: str, detail: str) -> bool:
        self.failures.labels(reason).inc()
        if not self._failing:  # once per outage: a lookup runs every few seconds
            log.warning("looking up the peers failed, the last list is kept: %s", detail)
            self._failing = True
        return False


def peer_discovery(
    settings: ClusterSettings, cluster: Cluster, registry: CollectorRegistry | None = None
) -> PeerDiscovery | None:
    """The lookup ``cluster.peers_from_dns`` asks for, or None when it is not set."""
    if settings.peers_from_dns is None:
        return None
    servers = [nameserver_address(s) for s in settings.peer_dns_nameservers]
    interval = settings.peer_dns_interval_s
    return PeerDiscovery(
        settings.peers_from_dns,
        cluster,
        dns_resolve(servers, interval),
        interval_s=interval,
        registry=registry,
    )
