"""Every state-changing action leaves an audit record with who, what, the result, the
client's address and the request id; ``GET /api/v1/audit`` (admin) shows them and whether
the chain holds, and a record edited on disk shows as a broken chain."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from hostvitals.collector import __main__ as cli
from hostvitals.collector.access import auditchain
from hostvitals.shared.codec import encode_frame
from tests.support.access import Credentials, bearer, make_credentials
from tests.support.collector_app import msgpack_headers, running, settings
from tests.support.frames import catalogue_frame, ticks_ending_now

HOST = "audit-host"
SILENCE = {
    "matchers": [{"name": "host", "value": HOST, "isRegex": False}],
    "durationSeconds": 60,
    "createdBy": "ops",
    "comment": "maintenance",
}


async def records(client: httpx.AsyncClient, creds: Credentials, **params: Any) -> Any:
    answer = await client.get("/api/v1/audit", params=params, headers=bearer(creds.admin))
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]


def only(found: list[dict[str, Any]], action: str) -> dict[str, Any]:
    matching = [r for r in found if r["action"] == action]
    assert len(matching) == 1, (action, found)
    return matching[0]


async def test_each_action_leaves_a_record(tmp_path: Path) -> None:
    async with running(settings(state={"dir": str(tmp_path)})) as (app, client, _vm):
        creds = make_credentials(app, HOST, "audit-agent")
        admin = {**bearer(creds.admin), "X-Request-Id": "req-admin-1"}
        made = await client.post("/api/v1/tokens", json={"name": "grafana", "role": "viewer"},
                                 headers=admin)  # fmt: skip
        assert made.status_code == 201 and made.headers["x-request-id"] == "req-admin-1"
        token_id = made.json()["data"]["id"]
        assert (await client.delete(f"/api/v1/tokens/{token_id}", headers=admin)).is_success
        assert (await client.delete("/api/v1/tokens/nope", headers=admin)).status_code == 404
        agent = (await client.post("/api/v1/agents", json={"host": "web-9"}, headers=admin)).json()
        ref = agent["data"]["id"]
        for step in ("rotate", "unpin"):
            assert (await client.post(f"/api/v1/agents/{ref}/{step}", headers=admin)).is_success
        assert (await client.delete(f"/api/v1/agents/{ref}", headers=admin)).is_success
        op = bearer(creds.operator)
        silence = await client.post("/api/v1/silences", json=SILENCE, headers=op)
        assert silence.status_code == 201, silence.text
        silence_id = silence.json()["data"]["silenceID"]
        assert (await client.delete(f"/api/v1/silences/{silence_id}", headers=op)).is_success
        for _ in range(3):  # the same refusal again and again: one record a minute
            denied = await client.get("/api/v1/tokens", headers=bearer(creds.viewer))
            assert denied.status_code == 403

        data = await records(client, creds)
        assert data["chain"]["ok"] is True and data["chain"]["problems"] == []
        found = data["records"]
        added = only(found, "token.add")
        assert added["target"] == token_id and added["result"] == "ok"
        assert added["subject"] == "token:test admin" and added["role"] == "admin"
        assert added["credential_id"] == creds.admin.split("_")[1]
        assert added["request_id"] == "req-admin-1" and added["source"] == "127.0.0.1"
        assert added["detail"]["name"] == "grafana" and "secret" not in added["detail"]
        revokes = [r for r in found if r["action"] == "token.revoke"]
        assert {(r["target"], r["result"]) for r in revokes} == {
            (token_id, "ok"),
            ("nope", "failed"),
        }
        for action in ("agent.add", "agent.rotate", "agent.unpin", "agent.revoke"):
            assert only(found, action)["target"] == ref
        created = only(found, "silence.create")
        assert created["target"] == silence_id and created["subject"] == "token:test operator"
        assert created["detail"]["comment"] == "maintenance"
        assert only(found, "silence.expire")["target"] == silence_id
        refused = only(found, "access.denied")
        assert refused["target"] == "GET /api/v1/tokens" and refused["result"] == "denied"
        assert refused["subject"] == "token:test viewer"
        # No secret of any kind is in the log.
        raw = b"".join(p.read_bytes() for _f, p in auditchain.segments(tmp_path / "audit"))
        for secret in (creds.admin, creds.operator, creds.viewer, agent["data"]["secret"]):
            assert secret.encode() not in raw
        assert raw.count(b"\n") == len(found)

        metric = app.state.metrics.registry.get_sample_value(
            "hostvitals_collector_audit_records_total", {"action": "token.add", "result": "ok"}
        )
        assert metric == 1


async def test_filters_and_admin_only(tmp_path: Path) -> None:
    async with running(settings(state={"dir": str(tmp_path)})) as (app, client, _vm):
        creds = make_credentials(app, HOST)
        for name in ("a", "b", "c"):
            await client.post("/api/v1/tokens", json={"name": name, "role": "viewer"},
                              headers=bearer(creds.admin))  # fmt: skip
        await client.post("/api/v1/silences", json=SILENCE, headers=bearer(creds.operator))
        assert [r["detail"]["name"] for r in (await records(client, creds, limit=2,
                action="token.add"))["records"]] == ["c", "b"]  # fmt: skip
        by_op = (await records(client, creds, subject="token:test operator"))["records"]
        assert [r["action"] for r in by_op] == ["silence.create"]
        assert (await records(client, creds, since="2999-01-01T00:00:00Z"))["records"] == []
        bad = await client.get("/api/v1/audit", params={"since": "soon"},
                               headers=bearer(creds.admin))  # fmt: skip
        assert bad.status_code == 400
        for who in (creds.viewer, creds.operator, creds.agent):
            assert (await client.get("/api/v1/audit", headers=bearer(who))).status_code == 403
        assert (await client.get("/api/v1/audit")).status_code == 401


async def test_an_edited_record_breaks_the_chain(tmp_path: Path) -> None:
    async with running(settings(state={"dir": str(tmp_path)})) as (app, client, _vm):
        creds = make_credentials(app, HOST)
        for name in ("a", "b", "c"):
            await client.post("/api/v1/tokens", json={"name": name, "role": "viewer"},
                              headers=bearer(creds.admin))  # fmt: skip
        assert (await records(client, creds))["chain"]["ok"] is True
        path = auditchain.segments(tmp_path / "audit")[0][1]
        lines = path.read_bytes().splitlines(keepends=True)
        record = orjson.loads(lines[1])
        record["subject"] = "token:someone else"
        lines[1] = orjson.dumps(record) + b"\n"
        path.write_bytes(b"".join(lines))
        chain = (await records(client, creds))["chain"]
        assert chain["ok"] is False and "changed after it was written" in chain["problems"][0]


async def test_a_forged_frame_is_recorded_once_a_minute() -> None:
    async with running() as (app, client, _vm):
        creds = make_credentials(app, HOST, "audit-agent")
        headers = msgpack_headers(**bearer(creds.agent))
        for seq in (1, 2, 3):
            forged = catalogue_frame("other-host", ticks_ending_now(2), agent_id="audit-agent",
                                     seq=seq, metrics=["node_load1"])  # fmt: skip
            answer = await client.post("/api/v1/ingest", content=encode_frame(forged),
                                       headers=headers)  # fmt: skip
            assert answer.status_code == 403
        found = (await records(client, creds, action="agent.binding_denied"))["records"]
        assert len(found) == 1
        assert found[0]["target"] == creds.agent_ref and found[0]["role"] == "agent"
        assert found[0]["detail"] == {
            "reason": "host_mismatch", "frame_agent_id": "audit-agent", "frame_host": "other-host"
        }  # fmt: skip


async def test_request_ids() -> None:
    async with running() as (app, client, _vm):
        make_credentials(app, HOST)
        kept = await client.get("/api/v1/health", headers={"X-Request-Id": "abc-123.x_y"})
        assert kept.headers["x-request-id"] == "abc-123.x_y"
        for bad in ("has space", "x" * 65, "ünï".encode()):
            answer = await client.get("/api/v1/health", headers={"X-Request-Id": bad})
            assert len(answer.headers["x-request-id"]) == 16
        refused = await client.get("/api/v1/tokens", headers={"Authorization": "Bearer nope"})
        assert refused.status_code in (401, 403) and len(refused.headers["x-request-id"]) == 16


def test_the_cli_is_audited(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HOSTVITALS_CONFIG", raising=False)
    monkeypatch.setenv("USER", "alice")
    monkeypatch.setenv("LOGNAME", "alice")
    config = tmp_path / "collector.yaml"
    config.write_text(f"state:\n  dir: {tmp_path / 'state'}\n")
    assert (
        cli.main(["tokens", "add", "--name", "ops", "--role", "admin", "--config", str(config)])
        == 0
    )
    assert cli.main(["agents", "add", "--host", "h1", "--config", str(config)]) == 0
    assert cli.main(["agents", "revoke", "nope", "--config", str(config)]) == 1
    assert cli.main(["tokens", "list", "--config", str(config)]) == 0
    printed = capsys.readouterr().out
    from hostvitals.collector.access.audit import AuditLog

    log = AuditLog(tmp_path / "state" / "audit")
    found = log.read()
    assert [(r["action"], r["result"]) for r in found] == [
        ("agent.revoke", "failed"), ("agent.add", "ok"), ("token.add", "ok"),
    ]  # fmt: skip
    assert {r["subject"] for r in found} == {"cli:alice"} and log.verify().ok
    assert found[2]["source"] == "cli"
    for line in printed.split():
        if line.startswith(("hvt_", "hva_")):
            assert line not in str(found)


async def test_reloads_are_recorded_with_their_outcome(tmp_path: Path) -> None:
    async with running(settings(state={"dir": str(tmp_path)})) as (app, client, _vm):
        creds = make_credentials(app, HOST, "audit-agent")
        app.state.reloads.add("broken", lambda: 1 / 0)
        assert app.state.reloads.reload_all("SIGHUP") is False
        found = [
            r for r in (await records(client, creds))["records"] if r["action"] == "config.reload"
        ]
        outcomes = {(r["target"], r["result"], r["subject"]) for r in found}
        assert ("credentials", "ok", "system:SIGHUP") in outcomes
        assert ("broken", "failed", "system:SIGHUP") in outcomes
