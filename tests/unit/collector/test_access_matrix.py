"""The role matrix: every route called by every role, against the in-process app with
credentials configured. 401 (with a challenge) without a credential, 403 when the role is
too low, and otherwise an answer from the route itself."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI

from hostvitals.collector.access.roles import PUBLIC, Role, allows
from hostvitals.collector.access.routes import ROUTES, RouteAccess
from hostvitals.shared.codec import encode_frame
from tests.support.access import Credentials, bearer, make_credentials
from tests.support.collector_app import msgpack_headers, running, settings
from tests.support.frames import catalogue_frame, ticks_ending_now

HOST = "matrix-host"
CALLERS = ("anonymous", "viewer", "operator", "admin", "agent", "peer")
PEER_TOKEN = "matrix-peer-token-0123456789abcdef"
FRAME = catalogue_frame(HOST, ticks_ending_now(2), metrics=["node_load1"])

# Requests a route answers without waiting long; the rest get the template with x's.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/v1/ingest"): {"content": encode_frame(FRAME), "headers": msgpack_headers()},
    ("GET", "/api/v1/stream"): {"params": {"host": "x" * 1000}},  # refused before streaming
    ("POST", "/api/v1/silences"): {
        "json": {
            "matchers": [{"name": "host", "value": HOST, "isRegex": False}],
            "durationSeconds": 60,
            "createdBy": "matrix",
            "comment": "matrix",
        }
    },
    ("POST", "/api/v1/tokens"): {"json": {"name": "matrix", "role": "viewer"}},
    ("POST", "/api/v1/agents"): {"json": {"host": "matrix-other"}},
    ("POST", "/api/v1/users"): {
        "json": {"name": "matrix-user", "role": "viewer", "password": "matrix password"}
    },
}


def url(route: RouteAccess) -> str:
    return re.sub(r"\{[^}]+\}", "x", route.path)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def served(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient, Credentials]]:
    token_file = Path(tmp_path_factory.mktemp("matrix")) / "peer-token"
    token_file.write_text(PEER_TOKEN + "\n")
    app_settings = settings(
        live={"dedup_frames_per_host": 64}, cluster={"peer_token_file": str(token_file)}
    )
    async with running(app_settings) as (app, client, _vm):
        agent_id = FRAME.agent_id
        creds = make_credentials(app, HOST, agent_id)
        yield app, client, replace(creds, peer=PEER_TOKEN)


def expected(caller: str, route: RouteAccess) -> int | None:
    """401/403 when the access check refuses; None when the route must answer itself."""
    if route.need == PUBLIC:
        return None
    if caller == "anonymous":
        return 401
    return None if allows(Role(caller), route.need, peer_route=route.peer) else 403


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
async def test_role_matrix(
    served: tuple[FastAPI, httpx.AsyncClient, Credentials], route: RouteAccess, caller: str
) -> None:
    _app, client, creds = served
    extra = BODIES.get((route.method, route.path), {})
    headers = {**extra.get("headers", {}), **bearer(creds.by_role(caller))}
    kwargs = {k: v for k, v in extra.items() if k != "headers"}
    response = await client.request(route.method, url(route), headers=headers, **kwargs)
    want = expected(caller, route)
    if want is None:
        assert response.status_code not in (401, 403), response.text
        if route.path == "/api/v1/ingest":
            assert response.status_code == 204, response.text
    else:
        assert response.status_code == want, response.text
        assert response.json()["errorType"] == ("unauthorized" if want == 401 else "forbidden")
        if want == 401:
            assert response.headers.get("WWW-Authenticate")
    secrets = (creds.viewer, creds.operator, creds.admin, creds.agent, PEER_TOKEN)
    assert not any(s in response.text for s in secrets), "a secret leaked"


@pytest.mark.asyncio(loop_scope="module")
async def test_refusals_are_counted(
    served: tuple[FastAPI, httpx.AsyncClient, Credentials],
) -> None:
    app, client, creds = served
    registry = app.state.metrics.registry

    def denied(reason: str, need: str) -> float:
        value = registry.get_sample_value(
            "hostvitals_collector_access_denied_total", {"reason": reason, "need": need}
        )
        return value or 0.0

    before = {r: denied(r, "viewer") for r in ("missing", "malformed", "unknown", "forbidden")}
    await client.get("/api/v1/hosts")
    await client.get("/api/v1/hosts", headers={"Authorization": "Token abc"})
    await client.get("/api/v1/hosts", headers=bearer("hvt_0123456789ab_nope"))
    await client.get("/api/v1/hosts", headers=bearer(creds.agent))
    for reason, was in before.items():
        assert denied(reason, "viewer") == was + 1, reason


PEER_MAY_NOT = [
    ("POST", "/api/v1/ingest"),
    ("GET", "/api/v1/audit"),
    ("GET", "/api/v1/users"),
    ("POST", "/api/v1/tokens"),
    ("GET", "/api/v1/stream"),
    ("GET", "/api/v1/query"),
    ("GET", "/metrics"),
]


@pytest.mark.parametrize(("method", "path"), PEER_MAY_NOT)
def test_the_peer_role_is_kept_off_everything_but_the_replicas_routes(
    method: str, path: str
) -> None:
    (route,) = [r for r in ROUTES if (r.method, r.path) == (method, path)]
    assert not route.peer
    assert expected("peer", route) == 403


def test_the_peer_role_may_call_what_replicas_ask_each_other() -> None:
    asked = {"/api/v1/hosts", "/api/v1/fleet", "/api/v1/metrics/current"}
    asked |= {"/api/v1/metrics/processes", "/api/v1/cluster"}
    peer_routes = {r.path for r in ROUTES if r.method == "GET" and r.peer}
    assert asked <= peer_routes


@pytest.mark.asyncio(loop_scope="module")
async def test_a_wrong_peer_token_is_refused_and_counted(
    served: tuple[FastAPI, httpx.AsyncClient, Credentials],
) -> None:
    app, client, _creds = served
    registry = app.state.metrics.registry
    labels = {"reason": "unknown", "need": "viewer"}
    was = registry.get_sample_value("hostvitals_collector_access_denied_total", labels) or 0.0
    answer = await client.get("/api/v1/hosts", headers=bearer(PEER_TOKEN + "x"))
    assert answer.status_code == 401
    now = registry.get_sample_value("hostvitals_collector_access_denied_total", labels)
    assert now == was + 1
