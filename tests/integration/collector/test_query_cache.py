"""The history API's query cache against a real VictoriaMetrics: screens asking within one step
share an answer, and a cached answer lags new samples until nocache=1 or its expiry.
"""

from __future__ import annotations

import httpx
import pytest
import requests
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from hostvitals.collector.query.cache import QueryCache
from tests.integration.collector.history_data import (
    GIB,
    RUN,
    SAMPLES,
    Hosts,
    Window,
    history,
    host_lines,
    only_value,
)
from tests.support.processes import VictoriaMetrics

pytestmark = pytest.mark.integration


# -- the query cache ------------------------------------------------------------------------


async def test_screens_asking_within_one_step_share_one_answer(
    app: FastAPI, client: httpx.AsyncClient, hosts: Hosts, window: Window
) -> None:
    cache = app.state.query_cache
    params = {"host": hosts.main, "end": window.end, "step": 60}
    first = await client.get("/api/v1/metrics/memory", params={**params, "start": window.start})
    hits = len(cache), cache.hits.collect()[0].samples[0].value
    # Another screen, a moment later: other seconds within the same whole steps, same bytes.
    start, end = window.start // 60 * 60 + 1, -(-window.end // 60) * 60 - 1
    later = await client.get(
        "/api/v1/metrics/memory", params={**params, "start": start, "end": end}
    )
    assert later.content == first.content
    assert (len(cache), cache.hits.collect()[0].samples[0].value) == (hits[0], hits[1] + 1)


async def test_a_cached_answer_lags_new_samples_until_nocache_or_expiry(
    app: FastAPI,
    client: httpx.AsyncClient,
    victoria_metrics: VictoriaMetrics,
    window: Window,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A time to live no slow machine outlasts, so "still cached" cannot be luck.
    monkeypatch.setattr(app.state, "query_cache", QueryCache(3600, 1 << 20, CollectorRegistry()))
    late = f"ql-{RUN}"
    params = {"host": late, "start": window.start, "end": window.end, "step": 60}
    assert (await history(client, "memory", **params))["series"] == []
    stamps = [(window.first + i) * 1000 for i in range(SAMPLES)]
    lines = host_lines(late, stamps, 1.0, swap=False)
    response = requests.post(
        f"{victoria_metrics.url}/api/v1/import", data="\n".join(lines).encode(), timeout=30
    )
    assert response.status_code == 204, response.text
    victoria_metrics.flush()
    # Within the cache's time to live the empty answer is still the answer...
    assert (await history(client, "memory", **params))["series"] == []
    # ...nocache=1 asks VictoriaMetrics afresh, and so does everyone once the answer expires.
    fresh = await history(client, "memory", **params, nocache=1)
    assert only_value(fresh, "memory_total_bytes", late) == 8 * GIB
    app.state.query_cache.clear()
    assert (await history(client, "memory", **params))["series"] == fresh["series"]
