"""Two replicas with auth on and HTTPS: they ask each other with the cluster's peer token and
check each other's certificate against the configured CA.

Real ``hostvitals-collector`` processes on one VictoriaMetrics, each with its own state (its
own API tokens), both reading one peer token file. A host whose agent reaches replica 0 is
answered through replica 1; the peer token may not push frames or call an admin route; a
replica holding the wrong token is refused, counted on both sides, and answers with its own
view until the right token is back.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import orjson
import pytest
import requests

from hostvitals.shared.codec import encode_frame
from tests.support.certs import Certs, make_certs
from tests.support.collector_app import msgpack_headers
from tests.support.frames import catalogue_frame, ticks_ending_now
from tests.support.processes import VictoriaMetrics, free_port, wait_until
from tests.support.tls_collector import TlsCollector, collector_command, tls_collector

pytestmark = pytest.mark.integration

RUN = uuid.uuid4().hex[:8]
HOST = f"peer-auth-{RUN}"
AGENT_TOKEN = f"legacy-agent-token-{RUN}"
PEER_TOKEN = f"the-cluster-peer-token-{RUN}"


class Replica:
    def __init__(self, collector: TlsCollector, viewer: str, token_file: Path) -> None:
        self.collector = collector
        self.viewer = viewer
        self.token_file = token_file

    def get(self, path: str, secret: str | None = None, **params: str) -> requests.Response:
        return requests.get(
            self.collector.url + path,
            params=params,
            headers={"Authorization": f"Bearer {secret or self.viewer}"},
            verify=str(self.collector.certs.ca),
            timeout=10,
        )

    def metric(self, name: str, labels: dict[str, str]) -> float:
        return self.collector.metric(self.viewer, name, labels)


def add_viewer(env: dict[str, str]) -> str:
    done = subprocess.run(
        [collector_command(), "tokens", "add", "--name", "test viewer", "--role", "viewer"],
        env={**os.environ, "HOSTVITALS_CONFIG": "", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("peer-ca"))


@pytest.fixture(scope="module")
def replicas(
    tmp_path_factory: pytest.TempPathFactory, certs: Certs, victoria_metrics: VictoriaMetrics
) -> Iterator[list[Replica]]:
    root = tmp_path_factory.mktemp("peer-auth")
    ports = [free_port(), free_port()]
    urls = [f"https://localhost:{port}" for port in ports]
    with ExitStack() as stack:
        replicas = []
        for n, port in enumerate(ports):
            token_file = root / f"peer-token-{n}"
            token_file.write_text(PEER_TOKEN + "\n")
            env = {
                "HOSTVITALS__VICTORIAMETRICS__URL": victoria_metrics.url,
                "HOSTVITALS__STATE__DIR": str(root / f"state-{n}"),
                "HOSTVITALS__TIERS__ROLLUPS": "[]",
                "HOSTVITALS__AUTH__TOKENS": orjson.dumps([AGENT_TOKEN]).decode(),
                "HOSTVITALS__CLUSTER__PEERS": orjson.dumps(urls).decode(),
                "HOSTVITALS__CLUSTER__PEER_CACHE_S": "0",
                "HOSTVITALS__CLUSTER__PEER_TOKEN_FILE": str(token_file),
                "HOSTVITALS__CLUSTER__PEER_CA_FILE": str(certs.ca),
            }
            viewer = add_viewer(env)
            collector = stack.enter_context(
                tls_collector(root / f"replica-{n}", certs, env, port=port)
            )
            replicas.append(Replica(collector, viewer, token_file))
        frame = catalogue_frame(HOST, ticks_ending_now(2))
        pushed = requests.post(
            f"{urls[0]}/api/v1/ingest",
            data=encode_frame(frame),
            headers={**msgpack_headers(), "Authorization": f"Bearer {AGENT_TOKEN}"},
            verify=str(certs.ca),
            timeout=10,
        )
        assert pushed.status_code == 204, pushed.text
        yield replicas


def hosts(answer: requests.Response) -> list[str]:
    assert answer.status_code == 200, answer.text
    return [row["host"] for row in answer.json()["data"] if row["host"] == HOST]


def test_a_host_held_by_one_replica_is_answered_through_the_other(
    replicas: list[Replica],
) -> None:
    _zero, one = replicas
    assert hosts(one.get("/api/v1/hosts", scope="local")) == []
    assert hosts(one.get("/api/v1/hosts")) == [HOST]
    current = one.get("/api/v1/metrics/current", host=HOST)
    assert hosts(current) == [HOST]
    assert current.json()["data"][0]["series"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v1/ingest"),
        ("GET", "/api/v1/audit"),
        ("GET", "/api/v1/users"),
        ("GET", "/api/v1/tokens"),
    ],
)
def test_the_peer_token_cannot_push_or_administer(
    replicas: list[Replica], method: str, path: str
) -> None:
    zero = replicas[0]
    answer = requests.request(
        method,
        zero.collector.url + path,
        data=encode_frame(catalogue_frame(HOST, ticks_ending_now(1))),
        headers={**msgpack_headers(), "Authorization": f"Bearer {PEER_TOKEN}"},
        verify=str(zero.collector.certs.ca),
        timeout=10,
    )
    assert answer.status_code == 403, answer.text
    assert PEER_TOKEN not in answer.text


def test_a_wrong_peer_token_is_refused_counted_and_the_answer_is_the_local_view(
    replicas: list[Replica],
) -> None:
    zero, one = replicas
    refused = ("hostvitals_collector_peer_refused_total", {"peer": zero.collector.url})
    denied = ("hostvitals_collector_access_denied_total", {"reason": "unknown", "need": "viewer"})
    refused_before, denied_before = one.metric(*refused), zero.metric(*denied)
    one.token_file.write_text("not-the-cluster-peer-token\n")
    try:
        wait_until(lambda: hosts(one.get("/api/v1/hosts")) == [], 10, "the wrong token in use")
        assert hosts(one.get("/api/v1/metrics/current")) == []
        # Asked for the host by name, it answers as a lone replica would: never a 500.
        answer = one.get("/api/v1/metrics/current", host=HOST)
        assert answer.status_code == 404, answer.text
        assert answer.json()["errorType"] == "not_found"
        assert one.metric(*refused) > refused_before
        assert zero.metric(*denied) > denied_before
    finally:
        one.token_file.write_text(PEER_TOKEN + "\n")
    wait_until(lambda: hosts(one.get("/api/v1/hosts")) == [HOST], 10, "the right token back")
