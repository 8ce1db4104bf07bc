"""Login, sessions, CSRF and the guessing throttles, against the in-process app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI

from hostvitals.collector.access.users import UserStore
from hostvitals.shared.codec import encode_frame
from tests.support.access import Credentials, bearer, make_credentials
from tests.support.collector_app import msgpack_headers, running, settings
from tests.support.frames import catalogue_frame, ticks_ending_now
from tests.support.users import cheap_passwords

HOST = "login-host"
PASSWORD = "s3cret-enough-password"
SILENCE = {
    "matchers": [{"name": "host", "value": HOST, "isRegex": False}],
    "durationSeconds": 60,
    "createdBy": "login test",
    "comment": "login test",
}


@asynccontextmanager
async def app_with_users() -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient, Credentials]]:
    auth = {"guess_limit": 3, "guess_backoff_s": 30}
    async with running(settings(auth=auth)) as (app, client, _vm):
        users: UserStore = app.state.users
        users.passwords = cheap_passwords()
        users.add("alice", "operator", PASSWORD)
        users.add("victor", "viewer", PASSWORD)
        yield app, client, make_credentials(app, HOST)


def client_from(app: FastAPI, address: str, base: str = "http://collector") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url=base)


def counted(app: FastAPI, name: str, labels: dict[str, str]) -> float:
    return app.state.metrics.registry.get_sample_value(name, labels) or 0.0


async def login(client: httpx.AsyncClient, user: str, password: str) -> httpx.Response:
    return await client.post("/api/v1/login", json={"username": user, "password": password})


async def test_a_login_sets_a_strict_http_only_cookie_and_opens_the_api() -> None:
    async with app_with_users() as (app, client, _creds):
        assert (await client.get("/api/v1/hosts")).status_code == 401
        done = await login(client, "alice", PASSWORD)
        assert done.status_code == 200, done.text
        cookie = done.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
        assert "Secure" not in cookie  # plain HTTP
        assert done.json()["data"]["role"] == "operator"
        assert PASSWORD not in done.text
        me = (await client.get("/api/v1/whoami")).json()["data"]
        assert (me["kind"], me["name"], me["role"]) == ("session", "alice", "operator")
        assert me["csrf_token"] == done.json()["data"]["csrf_token"]
        assert (await client.get("/api/v1/hosts")).status_code == 200
        assert counted(app, "hostvitals_collector_logins_total", {"result": "ok"}) == 1


async def test_over_tls_the_cookie_is_secure() -> None:
    async with (
        app_with_users() as (app, _client, _creds),
        client_from(app, "192.0.2.1", "https://collector") as tls,
    ):
        done = await login(tls, "alice", PASSWORD)
        assert "Secure" in done.headers["set-cookie"]


async def test_a_form_login_redirects_to_the_dashboard() -> None:
    async with app_with_users() as (_app, client, _creds):
        done = await client.post("/api/v1/login", data={"username": "victor", "password": PASSWORD})
        assert done.status_code == 303 and done.headers["location"] == "/"
        assert "hostvitals_session=hvs_" in done.headers["set-cookie"]
        wrong = await client.post("/api/v1/login", data={"username": "victor", "password": "x"})
        assert wrong.status_code == 401


async def test_a_change_by_cookie_needs_the_csrf_token_and_our_origin() -> None:
    async with app_with_users() as (app, client, creds):
        csrf = (await login(client, "alice", PASSWORD)).json()["data"]["csrf_token"]
        refused = await client.post("/api/v1/silences", json=SILENCE)
        assert refused.status_code == 403 and "X-CSRF-Token" in refused.text
        wrong = await client.post("/api/v1/silences", json=SILENCE, headers={"X-CSRF-Token": "0"})
        assert wrong.status_code == 403
        elsewhere = await client.post(
            "/api/v1/silences",
            json=SILENCE,
            headers={"X-CSRF-Token": csrf, "Origin": "https://evil.example"},
        )
        assert elsewhere.status_code == 403
        made = await client.post(
            "/api/v1/silences",
            json=SILENCE,
            headers={"X-CSRF-Token": csrf, "Origin": "http://collector"},
        )
        assert made.status_code < 300, made.text
        assert (
            counted(
                app,
                "hostvitals_collector_access_denied_total",
                {"reason": "csrf", "need": "operator"},
            )
            == 3
        )
        # A bearer token is no ambient credential: no CSRF token needed.
        async with client_from(app, "192.0.2.5") as scripted:
            by_token = await scripted.post(
                "/api/v1/silences", json=SILENCE, headers=bearer(creds.operator)
            )
            assert by_token.status_code < 300, by_token.text


async def test_a_login_from_another_origin_is_refused() -> None:
    async with app_with_users() as (_app, client, _creds):
        done = await client.post(
            "/api/v1/login",
            json={"username": "alice", "password": PASSWORD},
            headers={"Origin": "https://evil.example"},
        )
        assert done.status_code == 403 and "set-cookie" not in done.headers


async def test_logout_ends_the_session() -> None:
    async with app_with_users() as (_app, client, _creds):
        csrf = (await login(client, "victor", PASSWORD)).json()["data"]["csrf_token"]
        kept = dict(client.cookies)
        assert (await client.post("/api/v1/logout")).status_code == 403  # no CSRF token
        out = await client.post("/api/v1/logout", headers={"X-CSRF-Token": csrf})
        assert out.status_code == 200 and "Max-Age=0" in out.headers["set-cookie"]
        client.cookies.update(kept)  # the old cookie, replayed
        assert (await client.get("/api/v1/hosts")).status_code == 401


async def test_user_changes_apply_to_open_sessions_without_a_restart() -> None:
    async with app_with_users() as (app, client, creds):
        await login(client, "victor", PASSWORD)
        assert (await client.get("/api/v1/tokens")).status_code == 403
        admin = bearer(creds.admin)
        async with client_from(app, "192.0.2.7") as scripted:
            role = await scripted.post(
                "/api/v1/users/victor/role", json={"role": "admin"}, headers=admin
            )
            assert role.status_code == 200, role.text
            assert (await client.get("/api/v1/tokens")).status_code == 200
            new = await scripted.post(
                "/api/v1/users/victor/password", json={"password": "another password"},
                headers=admin,
            )  # fmt: skip
            assert new.status_code == 200 and "another password" not in new.text
            assert (await client.get("/api/v1/hosts")).status_code == 401
            assert (await login(client, "victor", PASSWORD)).status_code == 401
            assert (await login(client, "victor", "another password")).status_code == 200
            listed = (await scripted.get("/api/v1/users", headers=admin)).json()["data"]
            assert {u["name"] for u in listed} == {"alice", "victor"}
            assert all("hash" not in str(u) and "argon" not in str(u) for u in listed)
            gone = await scripted.delete("/api/v1/users/victor", headers=admin)
            assert gone.status_code == 200
            assert (await client.get("/api/v1/hosts")).status_code == 401
            short = await scripted.post(
                "/api/v1/users", json={"name": "eve", "role": "viewer", "password": "tiny-pw"},
                headers=admin,
            )  # fmt: skip
            assert short.status_code == 400 and "tiny-pw" not in short.text


async def test_guessing_one_user_from_many_addresses_is_throttled() -> None:
    async with app_with_users() as (app, _client, _creds):
        for i in range(3):
            async with client_from(app, f"198.51.100.{i}") as guesser:
                assert (await login(guesser, "alice", f"guess {i}")).status_code == 401
        async with client_from(app, "198.51.100.9") as guesser:
            refused = await login(guesser, "alice", PASSWORD)  # even the right password
            assert refused.status_code == 429
            assert int(refused.headers["Retry-After"]) == 30
        # Another user is not held up by alice's guessers.
        async with client_from(app, "198.51.100.9") as other:
            assert (await login(other, "victor", PASSWORD)).status_code == 200
        assert counted(app, "hostvitals_collector_logins_total", {"result": "throttled"}) == 1
        assert counted(app, "hostvitals_collector_auth_throttled_total", {"scope": "user"}) == 1


async def test_guessing_many_users_from_one_address_is_throttled() -> None:
    async with app_with_users() as (app, _client, _creds):
        async with client_from(app, "203.0.113.4") as guesser:
            for name in ("root", "admin", "bob"):
                assert (await login(guesser, name, "password1")).status_code == 401
            refused = await login(guesser, "alice", PASSWORD)
            assert refused.status_code == 429 and refused.headers["Retry-After"] == "30"
        async with client_from(app, "203.0.113.5") as elsewhere:
            assert (await login(elsewhere, "alice", PASSWORD)).status_code == 200
        assert counted(app, "hostvitals_collector_auth_throttled_total", {"scope": "address"}) == 1


async def test_bad_ingest_credentials_are_throttled_but_a_valid_agent_never_is() -> None:
    frame = encode_frame(catalogue_frame(HOST, ticks_ending_now(2), metrics=["node_load1"]))
    async with app_with_users() as (app, _client, creds):
        async with client_from(app, "192.0.2.50") as nat:

            async def push(secret: str) -> httpx.Response:
                headers = msgpack_headers(**bearer(secret))
                return await nat.post("/api/v1/ingest", content=frame, headers=headers)

            for i in range(3):
                assert (await push(f"hva_0123456789ab_guess{i}")).status_code == 401
            refused = await push("hva_0123456789ab_guess9")
            assert refused.status_code == 429 and refused.headers["Retry-After"] == "30"
            assert "guess9" not in refused.text
            # The same address with a valid credential: still accepted.
            assert (await push(creds.agent)).status_code == 204
            assert (await push("not-even-our-format")).status_code == 429
        rejected = counted(
            app, "hostvitals_collector_ingest_rejected_total", {"reason": "throttled"}
        )
        assert rejected == 2
        scope = counted(app, "hostvitals_collector_auth_throttled_total", {"scope": "credential"})
        assert scope == 2


@pytest.mark.parametrize(
    ("content", "kind", "status"),
    [(b"", "application/json", 400), (b"[]", "application/json", 400),
     (b'{"username": "alice"}', "application/json", 400), (b"{", "application/json", 400),
     (b"username=alice", "application/x-www-form-urlencoded", 400),
     (b"username=alice&password=x", "text/plain", 415),
     (b"x" * 20_000, "application/json", 413)],
)  # fmt: skip
async def test_a_malformed_login_is_refused_and_counted(
    content: bytes, kind: str, status: int
) -> None:
    async with app_with_users() as (app, client, _creds):
        done = await client.post("/api/v1/login", content=content, headers={"Content-Type": kind})
        assert done.status_code == status, done.text
        assert counted(app, "hostvitals_collector_logins_total", {"result": "malformed"}) == 1


async def test_a_browser_script_gets_no_basic_challenge() -> None:
    """So the dashboard's own login form shows, not the browser's basic-auth box."""
    async with app_with_users() as (_app, client, _creds):
        script = await client.get("/api/v1/ui", headers={"Sec-Fetch-Mode": "cors"})
        assert script.status_code == 401 and "Basic" not in script.headers["WWW-Authenticate"]
        typed = await client.get("/api/v1/ui", headers={"Sec-Fetch-Mode": "navigate"})
        assert "Basic" in ", ".join(typed.headers.get_list("WWW-Authenticate"))
        page = await client.get("/")
        assert page.status_code in (200, 503)  # the shell is public; it carries no data


async def test_logins_logouts_and_user_changes_are_audited_without_passwords() -> None:
    async with app_with_users() as (app, client, creds):
        admin = bearer(creds.admin)
        assert (await login(client, "alice", "a wrong password")).status_code == 401
        csrf = (await login(client, "alice", PASSWORD)).json()["data"]["csrf_token"]
        assert (await client.post("/api/v1/logout", headers={"X-CSRF-Token": csrf})).is_success
        async with client_from(app, "192.0.2.8") as scripted:
            made = {"name": "eve", "role": "viewer", "password": "eve's password"}
            assert (await scripted.post("/api/v1/users", json=made, headers=admin)).is_success
            new = {"password": "eve's new password"}
            changed = await scripted.post("/api/v1/users/eve/password", json=new, headers=admin)
            assert changed.is_success
            gone = await scripted.delete("/api/v1/users/eve", headers=admin)
            assert gone.is_success
            refused = await scripted.delete("/api/v1/users/eve", headers=admin)
            assert refused.status_code == 404
            for i in range(4):  # past the limit of 3: throttled, recorded once
                await login(scripted, "mallory", f"guess {i}")
            answer = await scripted.get("/api/v1/audit", headers=admin, params={"limit": 100})
        assert answer.status_code == 200, answer.text
        found = [
            (r["action"], r["subject"], r["target"], r["result"], r["detail"].get("reason"))
            for r in reversed(answer.json()["data"]["records"])
        ]
        assert found == [
            ("login.failure", "claimed:alice", "alice", "denied", "bad_credentials"),
            ("login.success", "session:alice", "alice", "ok", None),
            ("logout", "session:alice", "alice", "ok", None),
            ("user.add", "token:test admin", "eve", "ok", None),
            ("user.change", "token:test admin", "eve", "ok", None),
            ("user.remove", "token:test admin", "eve", "ok", None),
            ("user.remove", "token:test admin", "eve", "failed", None),
            ("login.failure", "claimed:mallory", "mallory", "denied", "bad_credentials"),
            ("login.failure", "claimed:mallory", "mallory", "denied", "bad_credentials"),
            ("login.failure", "claimed:mallory", "mallory", "denied", "bad_credentials"),
            ("login.failure", "claimed:mallory", "mallory", "denied", "rate_limited"),
        ]
        for secret in (PASSWORD, "a wrong password", "eve's password", "eve's new password"):
            assert secret not in answer.text
