"""An open live stream follows its credential: it ends, with a last ``end`` event saying why,
within the recheck period of a logout, a password change, the user's removal or the
revocation of its token; and it goes on while the credential holds."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI

from hostvitals.collector.access.store import AccessStore
from hostvitals.collector.access.users import UserStore
from hostvitals.collector.api.stream import live_events
from hostvitals.collector.live.updates import Update
from tests.support.access import bearer
from tests.support.collector_app import running, settings
from tests.support.users import cheap_passwords

PASSWORD = "a stream user's password"
RECHECK_S = 0.3
UI = {"stream_interval_s": 0.1, "stream_recheck_s": RECHECK_S}


@asynccontextmanager
async def app_with_user() -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient, str]]:
    """The app with user ``ann`` logged in on ``client``; yields the CSRF token too."""
    async with running(settings(ui=UI)) as (app, client, _vm):
        users: UserStore = app.state.users
        users.passwords = cheap_passwords()
        users.add("ann", "viewer", PASSWORD)
        done = await client.post("/api/v1/login", json={"username": "ann", "password": PASSWORD})
        assert done.status_code == 200, done.text
        yield app, client, done.json()["data"]["csrf_token"]


def events(body: str) -> list[dict[str, str]]:
    found = []
    for block in body.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in fields:
            found.append(fields)
    return found


async def ended_by(
    client: httpx.AsyncClient, end: Callable[[], Awaitable[None]], **request: Any
) -> tuple[dict[str, Any], float]:
    """Open a stream, run ``end`` once it is open; the stream's ``end`` event and how long
    after ``end`` the stream closed."""
    opened = asyncio.create_task(client.get("/api/v1/stream", **request))
    await asyncio.sleep(RECHECK_S)  # the stream is open: the in-process client waits for all
    assert not opened.done()
    await end()
    ended = time.monotonic()
    response = await asyncio.wait_for(opened, timeout=10)
    took = time.monotonic() - ended
    assert response.status_code == 200
    sent = events(response.text)
    assert sent[-1]["event"] == "end", sent
    assert [e["event"] for e in sent[:-1]] == ["fleet"]  # no fleet event after the end
    return orjson.loads(sent[-1]["data"]), took


async def test_logout_ends_an_open_stream_within_the_recheck_period() -> None:
    async with app_with_user() as (app, client, csrf):

        async def logout() -> None:
            out = await client.post("/api/v1/logout", headers={"X-CSRF-Token": csrf})
            assert out.status_code == 200

        end, took = await ended_by(client, logout)
        assert end["reason"] == "session_ended" and "log in" in end["message"]
        assert took < RECHECK_S + 1.0
        ended = app.state.metrics.registry.get_sample_value(
            "hostvitals_collector_streams_ended_total", {"reason": "session_ended"}
        )
        assert ended == 1.0
        assert app.state.streams.open == 0


@pytest.mark.parametrize("change", ["password", "remove"])
async def test_a_new_password_or_the_user_removed_ends_the_stream(change: str) -> None:
    async with app_with_user() as (app, client, _csrf):
        users: UserStore = app.state.users

        async def change_user() -> None:
            if change == "password":
                users.set_password("ann", "another password for ann")
            else:
                users.remove("ann")

        end, _took = await ended_by(client, change_user)
        assert end["reason"] == "session_ended"


async def test_a_revoked_token_ends_its_stream() -> None:
    async with running(settings(ui=UI)) as (app, client, _vm):
        store: AccessStore = app.state.access_store
        record, secret = store.add_token("stream viewer", "viewer")

        async def revoke() -> None:
            store.revoke_token(record.id)

        end, _took = await ended_by(client, revoke, headers=bearer(secret))
        assert end["reason"] == "credential_revoked"


async def test_a_stream_goes_on_while_its_credential_holds() -> None:
    now = [1000.0]
    checks: list[float] = []

    async def sleep(seconds: float) -> None:
        now[0] += seconds

    def still_valid() -> str | None:
        checks.append(now[0])
        return None if len(checks) < 4 else "session_ended"

    async def source(at: float) -> Update:
        tick = int(at)  # a new version each interval: an event every time
        return Update(tick, tick, b"{}", f"event: fleet\ndata: {at}\n\n".encode())

    stream = live_events(
        source,
        interval_s=1.0,
        clock=lambda: now[0],
        sleep=sleep,
        still_valid=still_valid,
        recheck_s=5.0,
    )
    sent = [event async for event in stream]
    assert checks == [1005.0, 1010.0, 1015.0, 1020.0]  # every recheck_s, not every event
    assert b"event: end" in sent[-1]
    assert sum(b"event: fleet" in e for e in sent) == 20
