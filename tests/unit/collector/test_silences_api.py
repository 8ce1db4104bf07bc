"""The silences API with a state directory: who created a silence, size limits answered 400
and counted, silences kept as rows (a change does not rewrite the alert state file), and
the silences of an old state file read on the first start."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hostvitals.collector.alerts.silences import MAX_COMMENT_CHARS
from tests.support.access import bearer, make_credentials
from tests.support.collector_app import running, settings

HOST = "silence-host"


def silence(**extra: Any) -> dict[str, Any]:
    return {
        "matchers": [{"name": "host", "value": HOST}],
        "durationSeconds": 3600,
        "createdBy": "someone else",
        "comment": "maintenance",
        **extra,
    }


async def test_created_by_is_the_credential_and_limits_are_400(tmp_path: Path) -> None:
    app_settings = settings(state={"dir": str(tmp_path)})
    async with running(app_settings) as (app, client, _fake):
        creds = make_credentials(app, HOST)
        made = await client.post("/api/v1/silences", json=silence(), headers=bearer(creds.operator))
        assert made.status_code == 201, made.text
        assert made.json()["data"]["silence"]["createdBy"] == "test operator"

        big = silence(comment="x" * (MAX_COMMENT_CHARS + 1))
        refused = await client.post("/api/v1/silences", json=big, headers=bearer(creds.operator))
        assert refused.status_code == 400
        assert "comment is 4097 characters long" in refused.json()["error"]
        metrics = app.state.metrics.render().decode()
        assert 'hostvitals_collector_silences_refused_total{reason="too_large"} 1.0' in metrics


async def test_silences_are_rows_and_the_old_state_file_is_read(tmp_path: Path) -> None:
    old = {
        "id": "from-the-old-file",
        "matchers": [{"name": "host", "value": HOST, "isRegex": False, "isEqual": True}],
        "startsAt": 1.0,
        "endsAt": 4_000_000_000.0,
        "createdBy": "before",
        "comment": "kept in alerts.json by an older version",
        "updatedAt": 1.0,
    }
    state_file = tmp_path / "alerts.json"
    state_file.write_text(json.dumps({"version": 1, "silences": [old]}))
    app_settings = settings(state={"dir": str(tmp_path)})
    async with running(app_settings) as (_app, client, _fake):
        listed = (await client.get("/api/v1/silences")).json()["data"]
        assert [s["id"] for s in listed] == ["from-the-old-file"]
        made_ids = []
        for _ in range(20):
            made = await client.post("/api/v1/silences", json=silence())
            assert made.status_code == 201
            made_ids.append(sid := made.json()["data"]["silenceID"])
            assert (await client.delete(f"/api/v1/silences/{sid}")).status_code == 200
        # Twenty creates and expiries, and the alert state file holds none of them.
        text = state_file.read_text()
        assert not any(sid in text for sid in made_ids)
    # After a restart the silences come from their rows; the file no longer holds them.
    assert "silences" not in json.loads(state_file.read_text())
    async with running(app_settings) as (_app, client, _fake):
        listed = (await client.get("/api/v1/silences")).json()["data"]
        assert len(listed) == 21
        assert {s["createdBy"] for s in listed} == {"before", "someone else"}
