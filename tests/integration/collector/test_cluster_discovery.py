"""Collector replicas that find each other in DNS (``cluster.peers_from_dns``), over HTTPS.

Real ``hostvitals-collector`` processes on one VictoriaMetrics, one per loopback address
(127.0.0.1, 127.0.0.2, 127.0.0.3) on the same port, as replicas behind a headless service
are, and a DNS server on loopback (``cluster.peer_dns_nameservers``) whose name
``replicas.hostvitals.test`` the test points at some of them. Their certificate names that
name, not their addresses 127.0.0.2 and 127.0.0.3: a peer is reached at its address and its
certificate checked against the looked-up name. The third replica's certificate (the same
CA) does not name it.
"""

from __future__ import annotations

import shutil
import ssl
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from hostvitals.shared.codec import encode_frame
from hostvitals.shared.protocol import Frame
from tests.support.certs import Certs, make_certs
from tests.support.collector_process import WAIT_S, collector_command
from tests.support.dnsserver import DnsServer, dns_server
from tests.support.frames import catalogue_frame, ticks_ending_now
from tests.support.processes import ManagedProcess, VictoriaMetrics, free_port, wait_until

pytestmark = pytest.mark.integration

RUN = uuid.uuid4().hex[:8]
NAME = "replicas.hostvitals.test"
ADDRESSES = ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
INTERVAL_S = 0.5  # cluster.peer_dns_interval_s
A, B, C = (f"found-{name}-{RUN}" for name in "abc")


class Replica:
    def __init__(self, address: str, port: int, certs: Certs, checked_as: str) -> None:
        self.address = address
        self.port = port
        self.certs = certs
        self.checked_as = checked_as  # a name its certificate has
        self.url = f"https://{address}:{port}"

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        context = ssl.create_default_context(cafile=str(self.certs.ca))
        with httpx.Client(verify=context, timeout=WAIT_S) as client:
            return client.request(
                method, self.url + path, extensions={"sni_hostname": self.checked_as}, **kwargs
            )

    def get(self, path: str, **params: str) -> Any:
        answer = self.request("GET", path, params=params)
        assert answer.status_code == 200, answer.text
        return answer.json()["data"]

    def push(self, frame: Frame) -> None:
        answer = self.request(
            "POST",
            "/api/v1/ingest",
            content=encode_frame(frame),
            headers={"Content-Type": "application/x-msgpack"},
        )
        assert answer.status_code == 204, answer.text

    def hosts(self) -> list[str]:
        return [r["host"] for r in self.get("/api/v1/hosts") if r["host"].endswith(RUN)]

    def peers(self) -> list[str]:
        peers: list[str] = self.get("/api/v1/cluster")["peers"]
        return peers

    def metric(self, name: str, labels: dict[str, str]) -> float:
        text = self.request("GET", "/metrics").text
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and sample.labels == labels:
                    return float(sample.value)
        return 0.0

    def healthy(self) -> bool:
        try:
            return self.request("GET", "/api/v1/health").status_code == 200
        except (httpx.HTTPError, ssl.SSLError):
            return False


@pytest.fixture(scope="module")
def dns() -> Iterator[DnsServer]:
    with dns_server() as server:
        yield server


@pytest.fixture(scope="module")
def replicas(
    tmp_path_factory: pytest.TempPathFactory, victoria_metrics: VictoriaMetrics, dns: DnsServer
) -> Iterator[list[Replica]]:
    root = tmp_path_factory.mktemp("discovery")
    named = make_certs(root / "named", server_names=[NAME])
    unnamed_dir = root / "unnamed"  # the same CA, a certificate that does not name NAME
    unnamed_dir.mkdir()
    for part in ("ca.pem", "ca.key"):
        shutil.copy(named.dir / part, unnamed_dir / part)
    unnamed = make_certs(unnamed_dir)
    port = free_port()
    dns.set(NAME, *ADDRESSES[:2])  # the third is not in DNS yet
    replicas = [
        Replica(ADDRESSES[0], port, named, NAME),
        Replica(ADDRESSES[1], port, named, NAME),
        Replica(ADDRESSES[2], port, unnamed, "localhost"),
    ]
    procs = [start(root, n, r, victoria_metrics, dns) for n, r in enumerate(replicas)]
    try:
        for replica, proc in zip(replicas, procs, strict=True):
            try:
                wait_until(replica.healthy, 30, f"replica {replica.address} health")
            except TimeoutError as exc:
                raise AssertionError(proc.log_tail()) from exc
        ticks = ticks_ending_now(2)
        replicas[0].push(catalogue_frame(A, ticks))
        replicas[1].push(catalogue_frame(B, ticks))
        yield replicas
    finally:
        for proc in procs:
            proc.stop()


def start(
    root: Path, n: int, replica: Replica, vm: VictoriaMetrics, dns: DnsServer
) -> ManagedProcess:
    cert, key = replica.certs.server
    proc = ManagedProcess(
        [collector_command(), "serve", "--host", replica.address, "--port", str(replica.port)],
        root / f"replica-{n}.log",
        env={
            "HOSTVITALS_CONFIG": "",
            "HOSTVITALS__VICTORIAMETRICS__URL": vm.url,
            "HOSTVITALS__TIERS__ROLLUPS": "[]",
            "HOSTVITALS__STATE__DIR": str(root / f"state-{n}"),
            "HOSTVITALS__TLS__CERT_FILE": str(cert),
            "HOSTVITALS__TLS__KEY_FILE": str(key),
            "HOSTVITALS__CLUSTER__PEERS_FROM_DNS": f"https://{NAME}:{replica.port}",
            "HOSTVITALS__CLUSTER__PEER_DNS_NAMESERVERS": orjson.dumps([dns.address]).decode(),
            "HOSTVITALS__CLUSTER__PEER_DNS_INTERVAL_S": str(INTERVAL_S),
            "HOSTVITALS__CLUSTER__PEER_CA_FILE": str(replica.certs.ca),
            "HOSTVITALS__CLUSTER__PEER_CACHE_S": "0",
            # A loaded machine may keep a replica from answering within the 1 s default;
            # these tests check what the answers say, not how fast they come.
            "HOSTVITALS__CLUSTER__PEER_TIMEOUT_S": "15",
        },
    )
    proc.start()
    return proc


def test_replicas_found_in_dns_share_the_fleet(replicas: list[Replica]) -> None:
    first, second, _ = replicas
    # Each one's frames, visible through the other: replica 2 at 127.0.0.2 was checked
    # against the looked-up name, which its certificate has (its address it has not).
    assert first.hosts() == second.hosts() == [A, B]
    expected = [f"https://{a}:{first.port}" for a in ADDRESSES[:2]]
    assert first.peers() == second.peers() == expected
    assert first.get("/api/v1/cluster")["leader"] == "self"
    assert second.get("/api/v1/cluster")["leader"] == first.url


def test_a_replica_added_to_dns_joins_and_its_certificate_must_have_the_name(
    replicas: list[Replica], dns: DnsServer
) -> None:
    first, second, third = replicas
    dns.set(NAME, *ADDRESSES)
    everyone = [f"https://{a}:{first.port}" for a in ADDRESSES]
    wait_until(lambda: all(r.peers() == everyone for r in replicas), WAIT_S, "the new peer")
    third.push(catalogue_frame(C, ticks_ending_now(2)))
    # The third replica's certificate does not name NAME: it is left out and counted...
    assert C not in first.hosts()
    assert first.metric("hostvitals_collector_peer_errors_total", {"peer": third.url}) >= 1
    # ...while it, checking the others' certificates, sees their hosts.
    assert third.hosts() == [A, B, C]
    # Every replica agrees on the leader: the first address.
    assert second.get("/api/v1/cluster")["leader"] == first.url
    assert third.get("/api/v1/cluster")["leader"] == first.url


def test_a_failed_lookup_keeps_the_peers_and_is_counted(
    replicas: list[Replica], dns: DnsServer
) -> None:
    first = replicas[0]
    before = first.peers()
    failures = "hostvitals_collector_peer_discovery_failures_total"
    counted = first.metric(failures, {"reason": "error"})
    dns.fail(True)
    try:
        wait_until(
            lambda: first.metric(failures, {"reason": "error"}) > counted, WAIT_S, "a failure"
        )
        assert first.peers() == before
        assert B in first.hosts()
    finally:
        dns.fail(False)


def test_a_replica_removed_from_dns_leaves_the_list(
    replicas: list[Replica], dns: DnsServer
) -> None:
    first, second, _ = replicas
    dns.set(NAME, *ADDRESSES[:2])
    left = [f"https://{a}:{first.port}" for a in ADDRESSES[:2]]
    wait_until(lambda: first.peers() == second.peers() == left, WAIT_S, "the peer to leave")
    assert first.hosts() == [A, B]
