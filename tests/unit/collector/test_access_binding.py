"""An agent credential writes its own host and agent id only: anything else is 403 before
the ledger, the live view or a write sees the frame."""

from __future__ import annotations

import time

from hostvitals.shared.codec import encode_frame
from hostvitals.shared.protocol import Frame
from tests.support.access import bearer
from tests.support.collector_app import msgpack_headers, running
from tests.support.frames import catalogue_frame, ticks_ending_now


def frame(host: str, agent_id: str, seq: int = 1) -> Frame:
    return catalogue_frame(host, ticks_ending_now(2), agent_id=agent_id, seq=seq,
                           metrics=["node_load1"])  # fmt: skip


def headers(secret: str) -> dict[str, str]:
    return msgpack_headers(**bearer(secret))


def rejected(app: object, reason: str) -> float:
    registry = app.state.metrics.registry  # type: ignore[attr-defined]
    value = registry.get_sample_value(
        "hostvitals_collector_ingest_rejected_total", {"reason": reason}
    )
    return value or 0.0


async def test_a_frame_for_another_host_or_agent_is_refused_and_leaves_no_trace() -> None:
    async with running() as (app, client, vm):
        store = app.state.access_store
        secret_a = store.add_agent("host-a", "agent-a")[1]
        store.add_agent("host-b", "agent-b")
        for forged, reason in (
            (frame("host-b", "agent-b"), "host_mismatch"),
            (frame("host-a", "agent-b"), "agent_mismatch"),
        ):
            response = await client.post(
                "/api/v1/ingest", content=encode_frame(forged), headers=headers(secret_a)
            )
            assert response.status_code == 403, response.text
            assert response.json()["errorType"] == "forbidden"
            assert "nothing of the frame was written" in response.json()["error"]
            assert rejected(app, reason) == 1
        assert vm.posts == []
        assert not app.state.storage.ledger.seen("agent-b", "host-b", 1)
        assert not app.state.storage.ledger.seen("agent-b", "host-a", 1)
        assert app.state.current.hosts(time.time()) == []
        own = await client.post(
            "/api/v1/ingest", content=encode_frame(frame("host-a", "agent-a")),
            headers=headers(secret_a),
        )  # fmt: skip
        assert own.status_code == 204
        assert len(vm.posts) == 1


async def test_the_first_frame_pins_the_agent_id_until_an_admin_unpins_it() -> None:
    async with running() as (app, client, vm):
        store = app.state.access_store
        record, secret = store.add_agent("web-1")
        first = encode_frame(frame("web-1", "original"))
        assert (
            await client.post("/api/v1/ingest", content=first, headers=headers(secret))
        ).is_success
        assert store.pinned_agent_id(record.id) == "original"
        other = encode_frame(frame("web-1", "impostor", seq=2))
        refused = await client.post("/api/v1/ingest", content=other, headers=headers(secret))
        assert refused.status_code == 403
        assert "agents unpin" in refused.json()["error"]
        assert len(vm.posts) == 1
        store.unpin(record.id)
        again = await client.post("/api/v1/ingest", content=other, headers=headers(secret))
        assert again.status_code == 204
        assert store.pinned_agent_id(record.id) == "impostor"


async def test_rotation_needs_no_downtime() -> None:
    async with running() as (app, client, vm):
        store = app.state.access_store
        record, old = store.add_agent("web-2", "agent-2")
        _rotated, new = store.rotate_agent(record.id, 3600.0)
        for seq, secret in enumerate((old, new)):
            body = encode_frame(frame("web-2", "agent-2", seq=seq))
            assert (
                await client.post("/api/v1/ingest", content=body, headers=headers(secret))
            ).is_success
        store.revoke_agent(record.id)
        store.add_token("keeps auth on", "viewer")
        body = encode_frame(frame("web-2", "agent-2", seq=9))
        answer = await client.post("/api/v1/ingest", content=body, headers=headers(new))
        assert answer.status_code == 401
        assert answer.headers["WWW-Authenticate"] == "Bearer"
        assert len(vm.posts) == 2
