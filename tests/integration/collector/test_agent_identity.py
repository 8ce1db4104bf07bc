"""Against a real VictoriaMetrics: agent A's credential cannot write as host/agent B, and a
forged frame does not make B's real frames of the same sequence numbers look like duplicates
(the exactly-once ledger never sees it)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from hostvitals.collector import statedb
from hostvitals.shared.codec import encode_frame
from hostvitals.shared.protocol import Value
from tests.integration.collector.test_ingest_victoriametrics import expected, exported, unique
from tests.support.access import bearer
from tests.support.collector_app import msgpack_headers, serving, settings
from tests.support.frames import catalogue_frame, ticks_ending_now
from tests.support.processes import VictoriaMetrics

pytestmark = pytest.mark.integration


def forged_value(*_: object) -> Value:
    return 666.0


def ledger_rows(state: Path, agent_id: str, host: str) -> list[int]:
    with sqlite3.connect(state / statedb.FILE_NAME) as conn:
        rows = conn.execute(
            "SELECT seq FROM written_frames WHERE agent = ? AND host = ? ORDER BY seq",
            (agent_id, host),
        ).fetchall()
    return [int(r[0]) for r in rows]


async def test_a_frame_forged_for_another_host_is_refused_and_the_real_one_stored(
    victoria_metrics: VictoriaMetrics, tmp_path: Path
) -> None:
    host_a, host_b = unique("id-a"), unique("id-b")
    state = tmp_path / "state"
    app_settings = settings(
        victoriametrics={"url": victoria_metrics.url}, state={"dir": state}, tiers={"rollups": []}
    )
    ticks = ticks_ending_now(4)
    async with serving(app_settings) as (app, client):
        store = app.state.access_store
        secret_a = store.add_agent(host_a, "agent-a")[1]
        secret_b = store.add_agent(host_b, "agent-b")[1]
        forged = [
            catalogue_frame(host_b, ticks[i * 2 : i * 2 + 2], agent_id="agent-b", seq=i,
                            values=forged_value)
            for i in range(2)
        ]  # fmt: skip
        for frame in forged:
            answer = await client.post(
                "/api/v1/ingest",
                content=encode_frame(frame),
                headers=msgpack_headers(**bearer(secret_a)),
            )
            assert answer.status_code == 403, answer.text
            assert host_b in answer.json()["error"]
        registry = app.state.metrics.registry
        assert registry.get_sample_value(
            "hostvitals_collector_ingest_rejected_total", {"reason": "host_mismatch"}
        ) == 2  # fmt: skip
        assert exported(victoria_metrics, host_b) == {}
        assert ledger_rows(state, "agent-b", host_b) == []

        real = [
            catalogue_frame(host_b, ticks[i * 2 : i * 2 + 2], agent_id="agent-b", seq=i)
            for i in range(2)
        ]
        for frame in real:
            answer = await client.post(
                "/api/v1/ingest",
                content=encode_frame(frame),
                headers=msgpack_headers(**bearer(secret_b)),
            )
            assert answer.status_code == 204, answer.text
        assert registry.get_sample_value("hostvitals_collector_ingest_duplicates_total") == 0
    assert ledger_rows(state, "agent-b", host_b) == [0, 1]
    stored = exported(victoria_metrics, host_b)
    merged = expected(real[0])
    for key, points in expected(real[1]).items():
        merged[key] = sorted(merged.get(key, []) + points)
    assert stored == merged
    assert all(v != 666.0 for points in stored.values() for _, v in points)
