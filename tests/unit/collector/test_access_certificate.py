"""A verified client certificate on ingest, as the TLS protocol hands it to the app (through
the same wrapper): it is the agent's identity, and a credential sent with it must agree.
The handshakes themselves are tested against a real process in
tests/integration/collector/test_tls.py."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from hostvitals.collector.tls.peer import PeerCertificate
from hostvitals.collector.tls.protocol import WithPeer
from hostvitals.shared.codec import encode_frame
from tests.support.access import bearer
from tests.support.collector_app import msgpack_headers, running, settings
from tests.support.frames import catalogue_frame, ticks_ending_now

WEB = PeerCertificate("web-1", ("web-1", "web-1.example"))


def body(host: str, agent_id: str = "agent-web") -> bytes:
    frame = catalogue_frame(host, ticks_ending_now(2), agent_id=agent_id, metrics=["node_load1"])
    return encode_frame(frame)


def with_peer(app: FastAPI, peer: PeerCertificate) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=WithPeer(app, peer))
    return httpx.AsyncClient(transport=transport, base_url="https://collector")


def denied(app: FastAPI, reason: str) -> float:
    value = app.state.metrics.registry.get_sample_value(
        "hostvitals_collector_access_denied_total", {"reason": reason, "need": "agent"}
    )
    return value or 0.0


async def test_the_certificate_alone_writes_the_hosts_it_names() -> None:
    async with running() as (app, _client, vm):
        app.state.access_store.add_token("someone", "viewer")  # not the open mode
        async with with_peer(app, WEB) as client:
            for host in ("web-1", "web-1.example"):
                answer = await client.post(
                    "/api/v1/ingest", content=body(host), headers=msgpack_headers()
                )
                assert answer.status_code == 204, answer.text
            forged = await client.post(
                "/api/v1/ingest", content=body("db-1"), headers=msgpack_headers()
            )
            assert forged.status_code == 403
            assert "'web-1'" in forged.json()["error"] and "'db-1'" in forged.json()["error"]
            # Only ingest takes a certificate: the other routes still need a token.
            assert (await client.get("/api/v1/hosts")).status_code == 401
        assert len(vm.posts) == 2


async def test_a_credential_sent_with_a_certificate_must_agree_with_it() -> None:
    async with running() as (app, _client, vm):
        store = app.state.access_store
        own = store.add_agent("web-1", "agent-web")[1]
        other = store.add_agent("db-1", "agent-db")[1]
        async with with_peer(app, WEB) as client:
            wrong = await client.post(
                "/api/v1/ingest", content=body("db-1", "agent-db"),
                headers=msgpack_headers(**bearer(other)),
            )  # fmt: skip
            assert wrong.status_code == 403, wrong.text
            assert denied(app, "certificate_mismatch") == 1
            unknown = await client.post(
                "/api/v1/ingest", content=body("web-1"),
                headers=msgpack_headers(**bearer("hva_000000000000_nope")),
            )  # fmt: skip
            assert unknown.status_code == 401
            right = await client.post(
                "/api/v1/ingest", content=body("web-1"), headers=msgpack_headers(**bearer(own))
            )
            assert right.status_code == 204, right.text
        assert len(vm.posts) == 1


async def test_ingest_without_a_certificate_is_refused_when_one_is_required() -> None:
    required = settings(
        tls={"cert_file": "/x.pem", "key_file": "/x.key", "client_ca_file": "/ca.pem",
             "require_client_cert_on_ingest": True}
    )  # fmt: skip
    async with running(required) as (app, client, vm):
        secret = app.state.access_store.add_agent("web-1")[1]
        answer = await client.post(
            "/api/v1/ingest", content=body("web-1"), headers=msgpack_headers(**bearer(secret))
        )
        assert answer.status_code == 401
        assert "client certificate" in answer.json()["error"]
        assert denied(app, "no_certificate") == 1
        async with with_peer(app, WEB) as with_cert:
            answer = await with_cert.post(
                "/api/v1/ingest", content=body("web-1"), headers=msgpack_headers()
            )
            assert answer.status_code == 204, answer.text
        assert len(vm.posts) == 1
