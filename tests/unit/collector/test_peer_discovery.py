"""Peers found in DNS (cluster.peers_from_dns): the list every replica agrees on, what a
failed lookup keeps and counts, and the lookups themselves against a real DNS server on
loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Sequence

import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from hostvitals.collector.config.cluster import ClusterSettings, nameserver_address
from hostvitals.collector.live.cluster import INSTANCE_HEADER, Cluster
from hostvitals.collector.live.discovery import (
    LookupFailed,
    PeerDiscovery,
    Resolve,
    dns_resolve,
    peer_discovery,
    peer_urls,
)
from tests.support.dnsserver import DnsServer, dns_server
from tests.support.processes import free_port

NAME = "collector-peers.hostvitals.svc"
FAILURES = "hostvitals_collector_peer_discovery_failures_total"


def answers(*addresses: str) -> Resolve:
    async def resolve(name: str) -> Sequence[str]:
        assert name == NAME
        return list(addresses)

    return resolve


def failing(reason: str) -> Resolve:
    async def resolve(name: str) -> Sequence[str]:
        raise LookupFailed(reason, f"{name}: {reason}")

    return resolve


def discovery(
    cluster: Cluster, resolve: Resolve, registry: CollectorRegistry, scheme: str = "https"
) -> PeerDiscovery:
    return PeerDiscovery(
        f"{scheme}://{NAME}:8000", cluster, resolve, interval_s=0.05, registry=registry
    )


def failures(registry: CollectorRegistry, reason: str) -> float:
    value = registry.get_sample_value(FAILURES, {"reason": reason})
    assert value is not None
    return value


def test_addresses_are_ordered_by_value_ipv4_first_once_each() -> None:
    found = ["10.0.0.10", "fd00::2", "10.0.0.9", "fd00::10", "10.0.0.9"]
    assert peer_urls("https", 8000, found) == [
        "https://10.0.0.9:8000",
        "https://10.0.0.10:8000",
        "https://[fd00::2]:8000",
        "https://[fd00::10]:8000",
    ]


async def test_every_replica_gets_the_same_list_whatever_order_dns_answers_in() -> None:
    lists = []
    for order in (["10.0.0.3", "10.0.0.1", "10.0.0.2"], ["10.0.0.2", "10.0.0.3", "10.0.0.1"]):
        registry = CollectorRegistry()
        cluster = Cluster([], registry=registry)
        assert await discovery(cluster, answers(*order), registry).refresh()
        lists.append(cluster.peers)
    assert lists[0] == lists[1] == [f"https://10.0.0.{n}:8000" for n in (1, 2, 3)]


async def test_static_peers_come_first_and_are_not_repeated() -> None:
    static = ["https://collector-0.example:8000", "https://10.0.0.2:8000"]
    registry = CollectorRegistry()
    cluster = Cluster(static, registry=registry)
    await discovery(cluster, answers("10.0.0.2", "10.0.0.1"), registry).refresh()
    assert cluster.peers == [*static, "https://10.0.0.1:8000"]
    assert cluster.enabled


async def test_over_https_a_found_peer_is_checked_against_the_looked_up_name() -> None:
    registry = CollectorRegistry()
    cluster = Cluster(["https://collector-0.example:8000"], registry=registry)
    await discovery(cluster, answers("10.0.0.1"), registry).refresh()
    assert cluster.server_name("https://10.0.0.1:8000") == NAME
    assert cluster.server_name("https://collector-0.example:8000") is None  # its own host
    plain = Cluster([], registry=CollectorRegistry())
    await discovery(plain, answers("10.0.0.1"), CollectorRegistry(), scheme="http").refresh()
    assert plain.server_name("http://10.0.0.1:8000") is None


async def test_each_failure_is_counted_by_its_reason() -> None:
    registry = CollectorRegistry()
    cluster = Cluster([], registry=registry)
    assert await discovery(cluster, answers("10.0.0.1"), registry).refresh()
    kept = list(cluster.peers)
    never = asyncio.Event()

    async def hangs(name: str) -> Sequence[str]:
        await never.wait()
        return []

    outcomes = {
        "nxdomain": failing("nxdomain"),
        "error": failing("error"),
        "no_address": answers(),
        "timeout": hangs,
    }
    for reason, resolve in outcomes.items():
        registry = CollectorRegistry()
        assert not await discovery(cluster, resolve, registry).refresh()
        assert cluster.peers == kept, reason
        assert failures(registry, reason) == 1
        others = {"nxdomain", "error", "no_address", "timeout"} - {reason}
        assert all(failures(registry, other) == 0 for other in others)


async def test_a_peer_that_leaves_takes_its_series_along() -> None:
    registry = CollectorRegistry()
    cluster = Cluster([], registry=registry)
    errors = "hostvitals_collector_peer_errors_total"
    await discovery(cluster, answers("10.0.0.1", "10.0.0.2"), registry).refresh()
    assert registry.get_sample_value(errors, {"peer": "https://10.0.0.2:8000"}) == 0
    await discovery(cluster, answers("10.0.0.1"), CollectorRegistry()).refresh()
    assert cluster.peers == ["https://10.0.0.1:8000"]
    assert registry.get_sample_value(errors, {"peer": "https://10.0.0.2:8000"}) is None
    assert registry.get_sample_value(errors, {"peer": "https://10.0.0.1:8000"}) == 0


async def test_found_peers_are_counted_in_a_gauge() -> None:
    registry = CollectorRegistry()
    cluster = Cluster([], registry=registry)
    await discovery(cluster, answers("10.0.0.1", "10.0.0.2", "10.0.0.2"), registry).refresh()
    assert registry.get_sample_value("hostvitals_collector_peer_discovery_peers") == 2


@pytest.fixture
async def replica() -> AsyncIterator[str]:
    """One replica's live view on a loopback port, answering with its instance id."""

    async def hosts(_request: web.Request) -> web.Response:
        body = b'{"status": "success", "data": [{"host": "h", "last_seen": 1}]}'
        return web.Response(
            body=body, content_type="application/json", headers={INSTANCE_HEADER: "replica-a"}
        )

    app = web.Application()
    app.router.add_get("/api/v1/hosts", hosts)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield str(port)
    finally:
        await runner.cleanup()


async def test_a_replica_listed_by_name_and_found_by_address_is_asked_once(replica: str) -> None:
    by_name = f"http://localhost:{replica}"
    by_address = f"http://127.0.0.1:{replica}"
    cluster = Cluster([by_name], cache_s=0, registry=CollectorRegistry())
    cluster.discovered([by_address], None)
    assert cluster.others() == [by_name, by_address]  # nothing known of either yet
    assert await cluster.gather("/api/v1/hosts") == [[{"host": "h", "last_seen": 1}]] * 2
    assert cluster.others() == [by_name]  # the same instance answered under both
    assert await cluster.gather("/api/v1/hosts") == [[{"host": "h", "last_seen": 1}]]
    await cluster.close()


@pytest.fixture
def dns() -> Iterator[DnsServer]:
    with dns_server() as server:
        yield server


async def test_the_resolver_asks_the_configured_server_for_a_and_aaaa(dns: DnsServer) -> None:
    dns.set(NAME, "10.0.0.2", "10.0.0.1", "fd00::1")
    resolve = dns_resolve([nameserver_address(dns.address)], 2.0)
    assert sorted(await resolve(NAME)) == ["10.0.0.1", "10.0.0.2", "fd00::1"]
    dns.set(NAME, "10.0.0.1")  # no AAAA record: the A records alone
    assert await resolve(NAME) == ["10.0.0.1"]


async def test_the_resolver_says_why_a_lookup_failed(dns: DnsServer) -> None:
    resolve = dns_resolve([nameserver_address(dns.address)], 2.0)
    with pytest.raises(LookupFailed) as missing:
        await resolve(NAME)
    assert missing.value.reason == "nxdomain" and NAME in str(missing.value)
    dns.set(NAME, "10.0.0.1")
    dns.fail(True)
    with pytest.raises(LookupFailed) as broken:
        await resolve(NAME)
    assert broken.value.reason == "error"


async def test_discovery_from_settings_follows_the_dns_answers(dns: DnsServer) -> None:
    settings = ClusterSettings(
        peers_from_dns=f"https://{NAME}:8443", peer_dns_nameservers=[dns.address]
    )
    registry = CollectorRegistry()
    cluster = Cluster(settings.peers, registry=registry)
    found = peer_discovery(settings, cluster, registry)
    assert found is not None and found.interval_s == settings.peer_dns_interval_s
    dns.set(NAME, "10.0.0.1")
    assert await found.refresh()
    dns.set(NAME, "10.0.0.1", "10.0.0.3")  # the autoscaler added one
    assert await found.refresh()
    assert cluster.peers == ["https://10.0.0.1:8443", "https://10.0.0.3:8443"]
    dns.fail(True)
    assert not await found.refresh()
    assert cluster.peers == ["https://10.0.0.1:8443", "https://10.0.0.3:8443"]
    assert failures(registry, "error") == 1
    assert peer_discovery(ClusterSettings(), cluster, registry) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10.0.0.10", ("10.0.0.10", 53)),
        ("127.0.0.1:8600", ("127.0.0.1", 8600)),
        ("fd00::a", ("fd00::a", 53)),
        ("[fd00::a]:5353", ("fd00::a", 5353)),
    ],
)
def test_nameservers_are_addresses_with_an_optional_port(
    text: str, expected: tuple[str, int]
) -> None:
    assert nameserver_address(text) == expected


@pytest.mark.parametrize("text", ["dns.example", "10.0.0.1:x", "10.0.0.1:0", "[fd00::a]53"])
def test_a_nameserver_that_is_not_an_address_is_refused(text: str) -> None:
    with pytest.raises(ValidationError, match="peer_dns_nameservers"):
        ClusterSettings(peer_dns_nameservers=[text])


@pytest.mark.parametrize(
    "url",
    [
        "collector-peers:8000",
        "ftp://collector-peers:8000",
        "https://collector-peers:8000/api",
        "https://10.0.0.1:8000",
        "https://collector-peers:99999",
        "https://user@collector-peers:8000",
    ],
)
def test_peers_from_dns_must_name_a_host_to_look_up(url: str) -> None:
    with pytest.raises(ValidationError, match="peers_from_dns"):
        ClusterSettings(peers_from_dns=url)


def test_both_static_and_found_peers_make_a_cluster() -> None:
    assert not ClusterSettings().clustered
    assert ClusterSettings(peers=["https://a:8000"]).clustered
    assert ClusterSettings(peers_from_dns=f"https://{NAME}:8000").clustered
