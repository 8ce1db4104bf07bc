"""Property: whatever ``Authorization`` header arrives (bearer, basic, garbage, non-ASCII,
huge), the collector with credentials answers as the credential deserves: the route's own
answer for a valid one of a high enough role, 403 for too low a role, 401 for anything else
(429 if a rate limit ever steps in), and never a 500."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from hostvitals.collector.access.roles import Role, allows
from hostvitals.shared.codec import encode_frame
from tests.support.access import Credentials, make_credentials
from tests.support.collector_app import msgpack_headers, running
from tests.support.collector_app import settings as app_settings
from tests.support.frames import catalogue_frame, ticks_ending_now

HOST = "auth-fuzz-host"
FRAME = catalogue_frame(HOST, ticks_ending_now(2), agent_id="auth-fuzz", metrics=["node_load1"])
ROUTES: dict[str, tuple[str, str, Role, dict[str, Any]]] = {
    "hosts": ("GET", "/api/v1/hosts", Role.VIEWER, {}),
    "silences": ("GET", "/api/v1/silences", Role.VIEWER, {}),
    "tokens": ("GET", "/api/v1/tokens", Role.ADMIN, {}),
    "ingest": ("POST", "/api/v1/ingest", Role.AGENT,
               {"content": encode_frame(FRAME), "headers": msgpack_headers()}),
}  # fmt: skip
ROLES = ("viewer", "operator", "admin", "agent")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def served() -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient, Credentials]]:
    # Every example comes from one address: the guessing throttle (tested on its own) would
    # answer most of them 429 and leave the headers' parsing untested, so it allows them all.
    fuzz = app_settings(live={"dedup_frames_per_host": 64}, auth={"guess_limit": 1000})
    async with running(fuzz) as (app, client, _vm):
        yield app, client, make_credentials(app, HOST, FRAME.agent_id)


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# A header and the role it proves (None: it proves nothing). Role names stand in for the
# secrets, which only exist once the app runs.
texts = st.text(max_size=60)
valid = st.builds(
    lambda role, scheme, pad, user: (
        (f"{pad}{scheme} {{{role}}}{pad}" if scheme.lower() == "bearer"
         else f"{pad}Basic {{basic:{user}:{role}}}{pad}"),
        role,
    ),
    st.sampled_from(ROLES),
    st.sampled_from(["Bearer", "bearer", "BEARER", "bEaReR", "Basic", "basic"]),
    st.sampled_from(["", " ", "  "]),
    st.text(st.characters(codec="ascii", exclude_characters=":"), max_size=10),
)  # fmt: skip
mutated = st.builds(
    lambda role, at, char, how: (f"Bearer {{{role}|{how}|{at}|{char}}}", None),
    st.sampled_from(ROLES),
    st.integers(0, 80),
    st.characters(codec="utf-8").filter(lambda c: not c.isspace() and c != "|"),
    st.sampled_from(["replace", "insert", "cut"]),
)
garbage = st.one_of(
    st.builds(lambda t: f"Bearer {t}", texts),
    st.builds(lambda t: f"Basic {t}", texts),
    st.builds(lambda u, p: _basic(u, p), texts, texts),
    st.builds(lambda b: "Basic " + base64.b64encode(b).decode(), st.binary(max_size=60)),
    texts,
    st.sampled_from(["", " ", "Bearer", "Bearer ", "Basic", "Basic =", "Token abc",
                     "Bearer hvt_", "Bearer hvt_0123456789ab_", "Bearer hva_zzzzzzzzzzzz_x"]),
    st.integers(1, 200_000).map(lambda n: "Bearer " + "a" * n),
).map(lambda h: (h, None))  # fmt: skip
headers = st.one_of(valid, mutated, garbage)


def _realise(template: str, creds: Credentials) -> str:
    """Put the secrets into a header template."""
    for role in ROLES:
        secret = str(creds.by_role(role))
        template = template.replace(f"{{{role}}}", secret)
        start = template.find("{basic:")
        if start >= 0 and template.find(f":{role}}}", start) >= 0:
            end = template.find(f":{role}}}", start)
            user = template[start + len("{basic:") : end]
            encoded = base64.b64encode(f"{user}:{secret}".encode()).decode()
            template = template[:start] + encoded + template[end + len(role) + 2 :]
        marker = f"{{{role}|"
        start = template.find(marker)
        if start >= 0:
            how, at, char = template[start + len(marker) : -1].split("|", 2)
            i = int(at) % len(secret)
            if how == "replace":
                changed = secret[:i] + char + secret[i + 1 :]
            elif how == "insert":
                changed = secret[:i] + char + secret[i:]
            else:
                changed = secret[:i]
            if changed == secret:
                changed = secret + "x"
            template = template[:start] + changed
    return template


@pytest.mark.asyncio(loop_scope="module")
@given(header=headers, route=st.sampled_from(sorted(ROUTES)))
@example(header=("Bearer {admin}", "admin"), route="tokens")
@example(header=(" basic {basic:grafana:viewer} ", "viewer"), route="hosts")
@example(header=("Bearer {agent}", "agent"), route="ingest")
@example(header=("Bearer {operator}", "operator"), route="tokens")
@example(header=("Bearer {admin|cut|70|x}", None), route="tokens")
@example(header=("Basic é", None), route="hosts")  # once a 500: non-ASCII base64
@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
async def test_any_authorization_header_is_answered_as_it_deserves(
    served: tuple[FastAPI, httpx.AsyncClient, Credentials],
    header: tuple[str, str | None],
    route: str,
) -> None:
    _app, client, creds = served
    template, role = header
    value = _realise(template, creds).encode("utf-8")
    method, path, need, extra = ROUTES[route]
    sent = {**extra.get("headers", {}), "Authorization": value}
    kwargs = {k: v for k, v in extra.items() if k != "headers"}
    answer = await client.request(method, path, headers=sent, **kwargs)
    if role is None:
        assert answer.status_code == 401, (value[:200], answer.text)
        assert answer.headers.get("www-authenticate")
    elif allows(Role(role), need):
        assert answer.status_code in (200, 204, 429), (value[:200], answer.text)
    else:
        assert answer.status_code in (403, 429), (value[:200], answer.text)
    if answer.status_code >= 400:
        assert answer.json()["errorType"] in ("unauthorized", "forbidden", "too_many_requests")
    for secret in (creds.viewer, creds.operator, creds.admin, creds.agent):
        assert secret not in answer.text
