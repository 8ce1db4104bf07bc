"""The dashboard of a collector that has credentials: the browser's basic-auth prompt takes a
viewer token, and the pages, their data requests and the live stream then work; without a
credential the page is refused."""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Browser, expect
from playwright.sync_api import Error as PlaywrightError

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


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [console_script("hostvitals-collector"), *args],
        env={**os.environ, **env},
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


def test_a_viewer_token_in_the_login_prompt_opens_the_live_dashboard(
    guarded: tuple[Stack, str, str], browser: Browser, problems: PageProblems
) -> None:
    stack, host, viewer = guarded
    context = browser.new_context(
        viewport={"width": 1280, "height": 800},
        http_credentials={"username": "someone", "password": viewer},
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.on("console", problems.console)
    page.on("pageerror", lambda exc: problems.messages.append(f"page error: {exc}"))
    page.on("requestfailed", problems.request_failed)
    try:
        page.goto(f"{stack.url}/")
        row = page.locator(f'tr[data-host="{host}"]')
        expect(row).to_have_attribute("data-status", "up")
        expect(row.locator('td[data-col="cpu"] .value')).to_have_text(re.compile(r"\d+\.\d %"))
        expect(page.locator(".live-state")).to_have_attribute("data-state", "live")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "dashboard_with_a_viewer_token.png"))
        problems.assert_clean()
    finally:
        context.close()


def test_without_a_credential_the_page_is_refused(
    guarded: tuple[Stack, str, str], browser: Browser
) -> None:
    stack, host, _viewer = guarded
    for path in ("/", f"/hosts/{host}", "/api/v1/fleet", "/api/v1/stream"):
        answer = requests.get(f"{stack.url}{path}", timeout=5)
        assert answer.status_code == 401, path
        assert "Basic" in answer.headers["WWW-Authenticate"], path
        assert host not in answer.text
    # The browser, with nothing to answer the challenge with, shows no page at all.
    context = browser.new_context()
    try:
        with pytest.raises(PlaywrightError, match="AUTH"):
            context.new_page().goto(f"{stack.url}/")
    finally:
        context.close()
