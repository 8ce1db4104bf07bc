"""The open mode with no credential, the refusal to start exposed, and the checks the fast
path and legacy tokens go through."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from hostvitals.collector import statedb
from hostvitals.collector.access.authn import is_loopback
from hostvitals.collector.access.store import AccessStore
from hostvitals.collector.app import create_app
from hostvitals.collector.config.loader import ConfigError
from hostvitals.shared.codec import encode_frame
from tests.support.access import bearer
from tests.support.collector_app import (
    FakeVictoriaMetrics,
    msgpack_headers,
    post_frame,
    running,
    settings,
)
from tests.support.frames import catalogue_frame, ticks_ending_now

HOST = "modes-host"


def frame() -> bytes:
    return encode_frame(catalogue_frame(HOST, ticks_ending_now(2), metrics=["node_load1"]))


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("[::1]", True),
     ("localhost", True), ("0.0.0.0", False), ("::", False), ("10.0.0.5", False),
     ("collector.example", False)],
)  # fmt: skip
def test_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


async def test_with_no_credential_on_loopback_everything_answers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        ctx = running()
        async with ctx as (_app, client, _vm):
            assert (await post_frame(client, catalogue_frame(HOST, ticks_ending_now(2)))).is_success
            assert (await client.get("/api/v1/hosts")).status_code == 200
            assert (await client.get("/api/v1/whoami")).json()["data"]["kind"] == "anonymous"
            made = await client.post("/api/v1/tokens", json={"name": "first", "role": "admin"})
            assert made.status_code == 201
            # The first credential ends the open mode at once.
            assert (await client.get("/api/v1/hosts")).status_code == 401
            admin = bearer(made.json()["data"]["secret"])
            assert (await client.get("/api/v1/hosts", headers=admin)).status_code == 200
    assert "no credential is configured" in caplog.text


def test_plain_http_beyond_loopback_is_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        create_app(settings(auth={"tokens": ["legacy"]}), backend=FakeVictoriaMetrics())
        assert "plain HTTP" not in caplog.text  # loopback
        create_app(settings(server={"host": "0.0.0.0"}, auth={"tokens": ["legacy"]}),
                   backend=FakeVictoriaMetrics())  # fmt: skip
    assert "serving plain HTTP on 0.0.0.0" in caplog.text


def test_listening_beyond_loopback_with_no_credential_refuses_to_start() -> None:
    with pytest.raises(ConfigError, match=r"refusing to listen on 0\.0\.0\.0.*tokens add"):
        create_app(settings(server={"host": "0.0.0.0"}), backend=FakeVictoriaMetrics())
    create_app(settings(server={"host": "0.0.0.0"}, auth={"tokens": ["legacy"]}),
               backend=FakeVictoriaMetrics())  # fmt: skip


async def test_allow_anonymous_opens_all_but_token_and_agent_management() -> None:
    exposed = settings(server={"host": "0.0.0.0"}, auth={"allow_anonymous": True})
    async with running(exposed) as (_app, client, _vm):
        assert (await client.get("/api/v1/hosts")).status_code == 200
        refused = await client.post("/api/v1/tokens", json={"name": "x", "role": "admin"})
        assert refused.status_code == 403
        assert "tokens add" in refused.json()["error"]


async def test_legacy_tokens_ingest_only_and_warn(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        async with running(settings(auth={"tokens": ["legacy-1"]})) as (_app, client, vm):
            token = bearer("legacy-1")
            ok = await client.post(
                "/api/v1/ingest", content=frame(), headers=msgpack_headers(**token)
            )
            assert ok.status_code == 204
            assert len(vm.posts) == 1
            hosts = await client.get("/api/v1/hosts", headers=token)
            assert hosts.status_code == 403
            assert (await client.get("/api/v1/hosts")).status_code == 401
    assert "legacy agent tokens bound to no host" in caplog.text
    assert "legacy-1" not in caplog.text


async def test_the_fast_path_does_not_answer_before_the_access_check() -> None:
    async with running() as (app, client, _vm):
        viewer = app.state.access_store.add_token("viewer", "viewer")[1]
        agent = app.state.access_store.add_agent(HOST)[1]
        headers = msgpack_headers(**bearer(agent))
        assert (await client.post("/api/v1/ingest", content=frame(), headers=headers)).is_success
        params = {"host": HOST}
        first = await client.get("/api/v1/metrics/current", params=params, headers=bearer(viewer))
        assert first.status_code == 200
        again = await client.get("/api/v1/metrics/current", params=params, headers=bearer(viewer))
        assert again.content == first.content
        registry = app.state.metrics.registry
        served = registry.get_sample_value("hostvitals_collector_current_fast_answers_total")
        assert served == 1.0  # the cache is warm: the fast path answers this request
        anonymous = await client.get("/api/v1/metrics/current", params=params)
        assert anonymous.status_code == 401
        as_agent = await client.get("/api/v1/metrics/current", params=params, headers=bearer(agent))
        assert as_agent.status_code == 403
        assert HOST not in anonymous.text + as_agent.text
        assert registry.get_sample_value("hostvitals_collector_current_fast_answers_total") == 1.0


async def test_beyond_loopback_revoking_the_last_credential_does_not_open_it(
    tmp_path: Path,
) -> None:
    cli = AccessStore(statedb.connect(tmp_path))
    record, secret = cli.add_token("only", "admin")
    exposed = settings(server={"host": "0.0.0.0"}, state={"dir": str(tmp_path)})
    async with running(exposed) as (_app, client, _vm):
        assert (await client.get("/api/v1/hosts", headers=bearer(secret))).status_code == 200
        cli.revoke_token(record.id)
        await asyncio.sleep(1.1)  # the collector rereads the state within a second
        assert (await client.get("/api/v1/hosts")).status_code == 401
        assert (await client.get("/api/v1/hosts", headers=bearer(secret))).status_code == 401
        assert (await client.get("/api/v1/health")).status_code != 401
