"""Enrollment tokens: they register a new agent for a host and get its own credential once,
cannot take over an enrolled host, may do nothing else, expire, and are counted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from hostvitals.collector import __main__ as cli
from hostvitals.collector import statedb
from hostvitals.collector.access.credentials import parse_secret
from hostvitals.collector.access.enrollment import EnrollmentStore, HostEnrolled
from hostvitals.collector.access.store import AccessError, AccessStore
from hostvitals.shared.codec import encode_frame
from tests.support.access import bearer
from tests.support.collector_app import msgpack_headers, running
from tests.support.frames import catalogue_frame, ticks_ending_now

AGENT_ID = "0b8e8c9e-7d0a-4d3e-9a47-1f3c2b6a5d10"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def stores(path: Path | None = None) -> tuple[EnrollmentStore, AccessStore, Clock]:
    clock = Clock()
    agents = AccessStore(statedb.connect(path), refresh_s=0.0, clock=clock)
    return EnrollmentStore(statedb.connect(path), agents, clock=clock), agents, clock


def test_a_token_is_stored_as_a_hash_and_expires(tmp_path: Path) -> None:
    enrollment, _agents, clock = stores(tmp_path)
    record, secret = enrollment.create("ansible", expires_in_s=60)
    assert secret.startswith(f"hve_{record.id}_")
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert secret.split("_")[-1].encode() not in raw
    principal = enrollment.authenticate(parse_secret(secret))
    assert principal is not None and principal.kind == "enrollment"
    assert enrollment.authenticate(parse_secret(secret[:-2] + "xx")) is None
    clock.now += 60
    assert enrollment.authenticate(parse_secret(secret)) is None
    with pytest.raises(AccessError, match="positive"):
        enrollment.create("never", expires_in_s=0)


def test_enrolling_pins_host_and_agent_id_and_an_enrolled_host_cannot_be_taken_over() -> None:
    enrollment, agents, _clock = stores()
    token, _secret = enrollment.create("fleet")
    record, agent_secret = enrollment.enroll(token.id, "web-1", AGENT_ID)
    assert (record.host, record.agent_id) == ("web-1", AGENT_ID)
    principal = agents.authenticate(parse_secret(agent_secret))
    assert principal is not None and principal.host == "web-1" and principal.agent_id == AGENT_ID
    with pytest.raises(HostEnrolled, match="admin must revoke"):
        enrollment.enroll(token.id, "web-1", AGENT_ID)  # the same agent asking again, too
    with pytest.raises(HostEnrolled):
        enrollment.enroll(token.id, "web-1", "another-agent")
    agents.add_agent("db-1")  # registered by an admin, not yet pinned: still not free
    with pytest.raises(HostEnrolled):
        enrollment.enroll(token.id, "db-1", AGENT_ID)
    agents.revoke_agent(record.id)  # an admin clears it: the host may enroll again
    again, _ = enrollment.enroll(token.id, "web-1", "reinstalled-agent")
    assert again.agent_id == "reinstalled-agent"
    assert [t.uses for t in enrollment.tokens()] == [2]
    enrollment.revoke(token.id)
    with pytest.raises(AccessError, match="no enrollment token"):
        enrollment.enroll(token.id, "web-2", AGENT_ID)


def enrollments(app: FastAPI, result: str) -> float:
    value = app.state.metrics.registry.get_sample_value(
        "hostvitals_collector_enrollments_total", {"result": result}
    )
    return float(value or 0.0)


async def test_the_enroll_endpoint_returns_a_working_agent_credential_once() -> None:
    async with running() as (app, client, vm):
        admin = app.state.access_store.add_token("admin", "admin")[1]
        created = await client.post(
            "/api/v1/enrollment-tokens", json={"name": "fleet"}, headers=bearer(admin)
        )
        assert created.status_code == 201, created.text
        token = created.json()["data"]["secret"]
        listing = await client.get("/api/v1/enrollment-tokens", headers=bearer(admin))
        assert token not in listing.text and listing.json()["data"][0]["name"] == "fleet"

        body: dict[str, Any] = {"host": "web-1", "agent_id": AGENT_ID}
        enrolled = await client.post("/api/v1/agents/enroll", json=body, headers=bearer(token))
        assert enrolled.status_code == 201, enrolled.text
        agent = enrolled.json()["data"]["secret"]
        assert agent.startswith("hva_") and enrolled.json()["data"]["agent_id"] == AGENT_ID
        me = await client.get("/api/v1/agents/self", headers=bearer(agent))
        assert me.json()["data"]["host"] == "web-1"
        frame = catalogue_frame("web-1", ticks_ending_now(2), agent_id=AGENT_ID, seq=1,
                                metrics=["node_load1"])  # fmt: skip
        pushed = await client.post(
            "/api/v1/ingest", content=encode_frame(frame), headers=msgpack_headers(**bearer(agent))
        )
        assert pushed.status_code == 204 and len(vm.posts) == 1

        taken = await client.post("/api/v1/agents/enroll", json=body, headers=bearer(token))
        assert taken.status_code == 409 and "cannot take it over" in taken.json()["error"]
        bad = await client.post(
            "/api/v1/agents/enroll", json={"host": "x", "agent_id": " "}, headers=bearer(token)
        )
        assert bad.status_code == 400
        assert (enrollments(app, "enrolled"), enrollments(app, "host_enrolled")) == (1, 1)
        assert enrollments(app, "refused") == 1

        # The enrollment token does nothing else; nothing else enrolls.
        others = (("GET", "/api/v1/hosts"), ("POST", "/api/v1/ingest"),
                  ("GET", "/api/v1/agents"), ("GET", "/api/v1/agents/self"))  # fmt: skip
        for method, path in others:
            answer = await client.request(method, path, headers=bearer(token))
            assert answer.status_code == 403, (path, answer.text)
        for other in (admin, agent):
            refused = await client.post("/api/v1/agents/enroll", json=body, headers=bearer(other))
            assert refused.status_code == 403
        token_id = token.split("_")[1]
        revoked = await client.delete(
            f"/api/v1/enrollment-tokens/{token_id}", headers=bearer(admin)
        )
        assert revoked.status_code == 200
        body["host"] = "web-2"
        gone = await client.post("/api/v1/agents/enroll", json=body, headers=bearer(token))
        assert gone.status_code == 401


async def test_without_a_credential_enrollment_is_refused_not_open() -> None:
    async with running() as (_app, client, _vm):
        body = {"host": "web-1", "agent_id": AGENT_ID}
        answer = await client.post("/api/v1/agents/enroll", json=body)
        assert answer.status_code == 403 and "enrollment create" in answer.json()["error"]


def test_the_enrollment_command_creates_lists_and_revokes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HOSTVITALS_CONFIG", raising=False)
    config = tmp_path / "collector.yaml"
    config.write_text(f"state:\n  dir: {tmp_path / 'state'}\n")

    def run(*argv: str) -> tuple[int, str, str]:
        code = cli.main([*argv, "--config", str(config)])
        out, err = capsys.readouterr()
        return code, out, err

    code, secret, err = run("enrollment", "create", "--name", "ansible", "--expires-in", "7d")
    assert code == 0 and secret.startswith("hve_") and "shown only now" in err
    code, listing, _ = run("enrollment", "list")
    assert "ansible" in listing and secret.strip() not in listing
    ref = secret.split("_")[1]
    assert run("enrollment", "revoke", ref)[0] == 0
    code, _, err = run("enrollment", "revoke", ref)
    assert code == 1 and "no enrollment token" in err
    with pytest.raises(SystemExit):
        run("enrollment", "create", "--name", "x", "--expires-in", "soon")


def test_whether_any_token_exists_is_kept_for_a_second_but_this_stores_changes_show_at_once(
    tmp_path: Path,
) -> None:
    # Every request's open-mode check asks; a token the CLI makes (another connection) shows
    # within a second, one this store makes or revokes at once.
    ticks = Clock()
    agents = AccessStore(statedb.connect(tmp_path), refresh_s=0.0)
    served = EnrollmentStore(statedb.connect(tmp_path), agents, monotonic=ticks)
    cli_side = EnrollmentStore(statedb.connect(tmp_path), agents)
    assert not served.has_tokens()
    made, _secret = cli_side.create("from the CLI")
    assert not served.has_tokens()
    ticks.now += 1.0
    assert served.has_tokens()
    cli_side.revoke(made.id)
    assert served.has_tokens()
    ticks.now += 1.0
    assert not served.has_tokens()
    own, _secret = served.create("from the API")
    assert served.has_tokens()
    served.revoke(own.id)
    assert not served.has_tokens()
