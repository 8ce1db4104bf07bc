"""The dashboard of a collector that has credentials: a user logs in with the login form (a
wrong password is refused, logout ends the session, a change without the CSRF token is
refused), a kiosk with a viewer bearer token sees the live pages without logging in, and
without a credential no data is shown."""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Browser, ConsoleMessage, Page, expect

from tests.browser.conftest import (
    AGENT_ENV,
    ARTIFACTS,
    FAST_LIVE_ENV,
    PageProblems,
    Stack,
)
from tests.e2e.conftest import console_script
from tests.support.processes import ManagedProcess, VictoriaMetrics, free_port, http_ok, wait_until

pytestmark = pytest.mark.e2e


PASSWORD = "browser test password"


def cli(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [console_script("hostvitals-collector"), *args],
        env={**os.environ, **env},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


@pytest.fixture(scope="module")
def guarded(
    built_dashboard: Path,
    tmp_path_factory: pytest.TempPathFactory,
    victoria_metrics: VictoriaMetrics,
) -> Iterator[tuple[Stack, str, str]]:
    tmp = tmp_path_factory.mktemp("guarded-stack")
    host = f"guarded-{uuid.uuid4().hex[:8]}"
    env = {
        "HOSTVITALS__VICTORIAMETRICS__URL": victoria_metrics.url,
        "HOSTVITALS__STATE__DIR": str(tmp / "state"),
        "HOSTVITALS__TIERS__ROLLUPS": "[]",
        "HOSTVITALS_CONFIG": "",
        **FAST_LIVE_ENV,
    }
    agent_secret = cli(env, "agents", "add", "--host", host)
    viewer = cli(env, "tokens", "add", "--name", "browser", "--role", "viewer")
    cli(env, "users", "add", "alice", "--role", "operator", stdin=PASSWORD + "\n")
    port = free_port()
    collector = ManagedProcess(
        [console_script("hostvitals-collector"), "--port", str(port)],
        tmp / "collector.log",
        env=env,
    )
    collector.start()
    stack = Stack(collector, port, tmp)
    try:
        wait_until(http_ok(f"{stack.url}/api/v1/health"), 30, "collector health")
        agent = ManagedProcess(
            [console_script("hostvitals-agent"), "--interval", "1", "--collector-url",
             stack.url, "--state-dir", str(tmp / "agent"), "--host", host],
            tmp / "agent.log",
            env={**AGENT_ENV, "HOSTVITALS_AGENT_TOKEN": agent_secret},
        )  # fmt: skip
        agent.start()
        stack.agents[host] = agent

        def reported() -> bool:
            answer = requests.get(
                f"{stack.url}/api/v1/fleet", headers={"Authorization": f"Bearer {viewer}"},
                timeout=2,
            )  # fmt: skip
            rows = [r for r in answer.json()["data"]["hosts"] if r["host"] == host]
            return bool(rows) and rows[0]["summary"]["cpu_usage_ratio"] is not None

        wait_until(reported, 30, "the registered agent to report", step=0.2)
        yield stack, host, viewer
    finally:
        stack.stop()


def watch(page: Page, problems: PageProblems, *expected: int) -> None:
    """Collect the page's problems, except the refusals the test provokes on purpose."""
    statuses = tuple(f"status of {code}" for code in expected)

    def console(message: ConsoleMessage) -> None:
        if not any(s in message.text for s in statuses):
            problems.console(message)

    page.set_default_timeout(15_000)
    page.on("console", console)
    page.on("pageerror", lambda exc: problems.messages.append(f"page error: {exc}"))
    page.on("requestfailed", problems.request_failed)


def log_in(page: Page, user: str, password: str) -> None:
    page.locator("#login-user").fill(user)
    page.locator("#login-password").fill(password)
    page.get_by_role("button", name="Log in").click()


def test_a_kiosk_with_a_viewer_bearer_token_sees_the_live_dashboard(
    guarded: tuple[Stack, str, str], browser: Browser, problems: PageProblems
) -> None:
    stack, host, viewer = guarded
    context = browser.new_context(
        viewport={"width": 1280, "height": 800},
        extra_http_headers={"Authorization": f"Bearer {viewer}"},
    )
    page = context.new_page()
    watch(page, problems)
    try:
        page.goto(f"{stack.url}/")
        row = page.locator(f'tr[data-host="{host}"]')
        expect(row).to_have_attribute("data-status", "up")
        expect(row.locator('td[data-col="cpu"] .value')).to_have_text(re.compile(r"\d+\.\d %"))
        expect(page.locator(".live-state")).to_have_attribute("data-state", "live")
        expect(page.locator(".who-name")).to_have_text("token browser")
        expect(page.locator(".who-role")).to_have_text("viewer")
        expect(page.locator("#login-user")).to_have_count(0)
        page.goto(f"{stack.url}/hosts/{host}")
        expect(page.locator(".live-state")).to_have_attribute("data-state", "live")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "dashboard_kiosk_bearer.png"))
        problems.assert_clean()
    finally:
        context.close()


def test_log_in_wrong_password_then_right_then_log_out(
    guarded: tuple[Stack, str, str], browser: Browser, problems: PageProblems
) -> None:
    stack, host, _viewer = guarded
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    watch(page, problems, 401)
    try:
        page.goto(f"{stack.url}/hosts/{host}")
        expect(page.get_by_role("heading", name="Log in")).to_be_visible()
        log_in(page, "alice", "not the password")
        expect(page.locator("#login-error")).to_have_text("Wrong user name or password.")
        assert not context.cookies()
        log_in(page, "alice", PASSWORD)
        # Back on the page that was asked for, logged in.
        expect(page.locator(".live-state")).to_have_attribute("data-state", "live")
        expect(page.locator(".who-name")).to_have_text("alice")
        expect(page.locator(".who-role")).to_have_text("operator")
        (cookie,) = context.cookies()
        assert cookie["name"] == "hostvitals_session"
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        assert not cookie["secure"]  # plain HTTP here
        assert page.evaluate("document.cookie") == ""  # out of scripts' reach
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "dashboard_logged_in.png"))
        page.get_by_role("button", name="Log out").click()
        expect(page.get_by_role("heading", name="Log in")).to_be_visible()
        # The old cookie is dead on the server, not only gone from the browser.
        jar = {"hostvitals_session": cookie["value"]}
        assert requests.get(f"{stack.url}/api/v1/fleet", cookies=jar, timeout=5).status_code == 401
        problems.assert_clean()
    finally:
        context.close()


def test_a_change_without_the_csrf_token_is_refused(
    guarded: tuple[Stack, str, str], browser: Browser, problems: PageProblems
) -> None:
    stack, host, _viewer = guarded
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    watch(page, problems, 401, 403)
    silence = {
        "matchers": [{"name": "host", "value": host, "isRegex": False}],
        "durationSeconds": 60,
        "createdBy": "alice",
        "comment": "csrf test",
    }
    post = """async ([silence, token]) => {
        const headers = {"Content-Type": "application/json"};
        if (token) headers["X-CSRF-Token"] = token;
        const r = await fetch("/api/v1/silences", {
            method: "POST", headers, body: JSON.stringify(silence)});
        return r.status;
    }"""
    try:
        page.goto(f"{stack.url}/")
        log_in(page, "alice", PASSWORD)
        expect(page.locator(".who-name")).to_have_text("alice")
        # The cookie alone, as a forged request would carry it: refused.
        assert page.evaluate(post, [silence, None]) == 403
        token = page.evaluate(
            "async () => (await (await fetch('/api/v1/whoami')).json()).data.csrf_token"
        )
        assert page.evaluate(post, [silence, "0" * 64]) == 403
        # With the session's token, as the dashboard sends it: made.
        assert page.evaluate(post, [silence, token]) == 201
        problems.assert_clean()
    finally:
        context.close()


def test_without_a_credential_no_data_is_shown(
    guarded: tuple[Stack, str, str], browser: Browser, problems: PageProblems
) -> None:
    stack, host, _viewer = guarded
    for path in ("/api/v1/fleet", "/api/v1/stream", f"/api/v1/metrics/current?host={host}"):
        answer = requests.get(f"{stack.url}{path}", timeout=5)
        assert answer.status_code == 401, path
        assert "Basic" in answer.headers["WWW-Authenticate"], path
        assert host not in answer.text
    shell = requests.get(f"{stack.url}/hosts/{host}", timeout=5)
    assert shell.status_code == 200 and host not in shell.text  # the page carries no data
    context = browser.new_context()
    page = context.new_page()
    watch(page, problems, 401)
    try:
        page.goto(f"{stack.url}/")
        expect(page.get_by_role("heading", name="Log in")).to_be_visible()
        expect(page.locator(f'tr[data-host="{host}"]')).to_have_count(0)
        problems.assert_clean()
    finally:
        context.close()


def test_a_logged_in_operator_expires_a_silence_from_the_alerts_page(
    guarded: tuple[Stack, str, str], browser: Browser, problems: PageProblems
) -> None:
    """The dashboard's own change (DELETE) goes through with the session's CSRF token."""
    stack, host, viewer = guarded
    made = requests.Session()
    login = made.post(
        f"{stack.url}/api/v1/login", json={"username": "alice", "password": PASSWORD}, timeout=30
    )
    csrf = login.json()["data"]["csrf_token"]
    silence = {
        "matchers": [{"name": "host", "value": host, "isRegex": False}],
        "durationSeconds": 600,
        "createdBy": "alice",
        "comment": f"expire me {uuid.uuid4().hex[:6]}",
    }
    created = made.post(
        f"{stack.url}/api/v1/silences", json=silence, headers={"X-CSRF-Token": csrf}, timeout=10
    )
    assert created.status_code == 201, created.text
    silence_id = created.json()["data"]["silenceID"]
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    watch(page, problems, 401)
    try:
        page.goto(f"{stack.url}/alerts")
        log_in(page, "alice", PASSWORD)
        row = page.locator(f'#silences-table tr[data-silence="{silence_id}"]')
        expect(row).to_contain_text(silence["comment"])
        row.locator("button.expire").click()
        expect(row).to_have_count(0)
        listed = requests.get(
            f"{stack.url}/api/v1/silences/{silence_id}",
            headers={"Authorization": f"Bearer {viewer}"},
            timeout=10,
        ).json()["data"]
        assert listed["status"]["state"] == "expired"
        problems.assert_clean()
    finally:
        context.close()
