"""Answers of current values are bounded: paged over hosts, a host cut short is marked."""

from __future__ import annotations

from typing import Any

import httpx

from hostvitals.shared.codec import encode_frame
from hostvitals.shared.protocol import Frame, Series
from tests.support.collector_app import msgpack_headers, running, settings
from tests.support.frames import ticks_ending_now


async def push(client: httpx.AsyncClient, host: str, nics: int) -> None:
    frame = Frame(
        agent_id=f"agent-{host}",
        host=host,
        seq=1,
        sent_at_ms=0,
        interval_s=1,
        timestamps_ms=ticks_ending_now(1),
        series=[
            Series("node_network_receive_bytes_total", {"device": f"eth{i:04}"}, [1.0])
            for i in range(nics)
        ],
    )
    answer = await client.post(
        "/api/v1/ingest", content=encode_frame(frame), headers=msgpack_headers()
    )
    assert answer.status_code == 204, answer.text


async def current(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    answer = await client.get("/api/v1/metrics/current", params=params)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def test_a_host_with_more_series_than_an_answer_holds_is_cut_and_marked() -> None:
    app_settings = settings(live={"current_max_series": 100})
    async with running(app_settings) as (app, client, _vm):
        await push(client, "big", 250)
        body = await current(client, host="big")
        again = await current(client, host="big")  # the cached answer is the same
        fewer = await current(client, host="big", limit=10)
        cut = app.state.metrics.registry.get_sample_value(
            "hostvitals_collector_current_answers_cut_total"
        )
    assert cut == 2  # the cached answer was counted when it was made
    (entry,) = body["data"]
    assert len(entry["series"]) == 100
    assert entry["truncated"] is True
    assert entry["series_total"] == 250
    assert "next_after" not in body
    assert again == body
    assert len(fewer["data"][0]["series"]) == 10


async def test_every_host_is_answered_page_by_page() -> None:
    app_settings = settings(live={"current_max_series": 100})
    async with running(app_settings) as (_app, client, _vm):
        for name in ("h1", "h2", "h3", "h4", "h5"):
            await push(client, name, 40)
        pages = [await current(client)]
        while "next_after" in pages[-1]:
            pages.append(await current(client, after=pages[-1]["next_after"]))
        small = await current(client, limit=40)
    assert [[e["host"] for e in page["data"]] for page in pages] == [
        ["h1", "h2"],
        ["h3", "h4"],
        ["h5"],
    ]
    assert all("truncated" not in e for page in pages for e in page["data"])
    assert [e["host"] for e in small["data"]] == ["h1"]
    assert small["next_after"] == "h1"
