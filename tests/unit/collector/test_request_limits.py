"""Rate limits and the body size limit in front of the routes (collector/access/
requestlimits.py), in the app with an in-memory VictoriaMetrics."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from hostvitals.collector.access.requestlimits import request_kind
from hostvitals.shared.codec import encode_frame
from tests.support.access import bearer, make_credentials
from tests.support.collector_app import msgpack_headers, running, settings
from tests.support.frames import catalogue_frame, ticks_ending_now

HOST = "limits-host"


def frame() -> bytes:
    return encode_frame(catalogue_frame(HOST, ticks_ending_now(1), metrics=["node_load1"]))


@pytest.mark.parametrize(
    ("method", "path", "kind"),
    [("POST", "/api/v1/ingest", "ingest"), ("GET", "/api/v1/stream", "stream"),
     ("GET", "/api/v1/query", "query"), ("POST", "/api/v1/silences", "query"),
     ("GET", "/api/v1/metrics/cpu", "query"), ("GET", "/metrics", "query"),
     ("GET", "/api/v1/health", "free"), ("GET", "/", "free"),
     ("GET", "/assets/app.js", "free")],
)  # fmt: skip
def test_request_kinds(method: str, path: str, kind: str) -> None:
    assert request_kind(method, path) == kind


async def test_queries_over_the_credential_limit_get_429_with_retry_after() -> None:
    limits = {"query_per_credential_per_s": 0.01, "query_per_credential_burst": 3}
    async with running(settings(rate_limits=limits)) as (app, client, _fake):
        creds = make_credentials(app, HOST)
        answers = [
            (await client.get("/api/v1/hosts", headers=bearer(creds.viewer))) for _ in range(4)
        ]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        refused = answers[-1]
        assert int(refused.headers["retry-after"]) >= 1
        assert refused.json()["errorType"] == "rate_limited"
        assert "credential" in refused.json()["error"]
        # Another credential has its own bucket.
        other = await client.get("/api/v1/hosts", headers=bearer(creds.operator))
        assert other.status_code == 200
        metrics = (await client.get("/metrics", headers=bearer(creds.admin))).text
        assert 'hostvitals_collector_rate_limited_total{by="credential",kind="query"} 1.0' in (
            metrics
        )


async def test_ingest_over_the_credential_limit_is_429_and_counted() -> None:
    limits = {"ingest_per_credential_per_s": 0.01, "ingest_per_credential_burst": 2}
    async with running(settings(rate_limits=limits)) as (app, client, _fake):
        creds = make_credentials(app, HOST)
        headers = {**msgpack_headers(), **bearer(creds.agent)}
        statuses = []
        for _ in range(3):
            answer = await client.post("/api/v1/ingest", content=frame(), headers=headers)
            statuses.append(answer)
        assert [s.status_code for s in statuses[:2]] == [204, 204]
        assert statuses[2].status_code == 429
        assert "retry-after" in statuses[2].headers
        metrics = app.state.metrics.render().decode()
        assert 'hostvitals_collector_ingest_rejected_total{reason="rate_limited"} 1.0' in metrics


async def test_without_a_credential_of_their_own_the_address_counts() -> None:
    limits = {"query_per_address_per_s": 0.01, "query_per_address_burst": 2}
    async with running(settings(rate_limits=limits)) as (_app, client, _fake):
        statuses = [(await client.get("/api/v1/hosts")).status_code for _ in range(3)]
        assert statuses == [200, 200, 429]
        assert (await client.get("/api/v1/health")).status_code == 200  # never limited


async def test_streams_have_their_own_limit() -> None:
    limits = {"stream_per_address_per_s": 0.01, "stream_per_address_burst": 1}
    async with running(settings(rate_limits=limits)) as (_app, client, _fake):
        assert (await client.get("/api/v1/hosts")).status_code == 200
        # An empty host is refused at once (400): the request still took its token.
        answer = await client.get("/api/v1/stream", params={"host": ""})
        assert answer.status_code == 400
        answer = await client.get("/api/v1/stream", params={"host": ""})
        assert answer.status_code == 429


async def test_defaults_let_a_paced_agent_and_a_polling_dashboard_through() -> None:
    async with running(settings()) as (app, client, _fake):
        creds = make_credentials(app, HOST)
        headers = {**msgpack_headers(), **bearer(creds.agent)}
        for _ in range(120):  # a catch-up burst of the agent's backlog lane
            answer = await client.post("/api/v1/ingest", content=frame(), headers=headers)
            assert answer.status_code == 204, answer.text
        for _ in range(150):  # a host page opening several times over
            answer = await client.get("/api/v1/hosts", headers=bearer(creds.viewer))
            assert answer.status_code == 200


async def test_a_body_over_the_limit_is_413() -> None:
    limits = {"max_body_bytes": 1024}
    async with running(settings(rate_limits=limits)) as (_app, client, _fake):
        big = b"{" + b" " * 2048 + b"}"
        answer = await client.post(
            "/api/v1/silences", content=big, headers={"Content-Type": "application/json"}
        )
        assert answer.status_code == 413
        assert answer.json()["errorType"] == "too_large"

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(4):
                yield b" " * 512

        answer = await client.post(
            "/api/v1/silences", content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert answer.status_code == 413


async def test_a_small_chunked_body_reaches_the_route() -> None:
    async with running(settings()) as (_app, client, _fake):

        async def chunks() -> AsyncIterator[bytes]:
            yield b'{"matchers": []'
            yield b"}"

        answer = await client.post(
            "/api/v1/silences", content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert answer.status_code in (400, 422), answer.text
