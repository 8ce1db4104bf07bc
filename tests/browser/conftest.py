"""Real headless Chromium against a real collector, agent and VictoriaMetrics.

Chromium is Debian's (``/usr/bin/chromium``, installed by ``make deps``), driven by Playwright
for Python. Every test gets a fresh browser context at 1280x800; console errors, failed
requests and uncaught page errors fail the test. Screenshots go to ``test-artifacts/browser/``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Page,
    Playwright,
    Request,
    sync_playwright,
)

from tests.e2e.conftest import REPO, console_script
from tests.support.processes import ManagedProcess, VictoriaMetrics, free_port, http_ok, wait_until

CHROMIUM = os.environ.get("HOSTVITALS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
ARTIFACTS = REPO / "test-artifacts" / "browser"
STATIC_INDEX = REPO / "collector" / "static" / "index.html"
# Short live thresholds, so a stopped agent turns stale and down within seconds.
FAST_LIVE_ENV = {
    "HOSTVITALS__LIVE__STALE_AFTER_FLUSHES": "2",
    "HOSTVITALS__LIVE__DOWN_AFTER_FLUSHES": "4",
    "HOSTVITALS__UI__STREAM_INTERVAL_S": "0.25",
    "HOSTVITALS__SERVER__SHUTDOWN_TIMEOUT_S": "1",
}
AGENT_ENV = {"HOSTVITALS_AGENT_FLUSH_INTERVAL": "1"}
# name, resolution (s), retention (days): the rollup tiers of the shipped configuration.
ROLLUPS = (("1m", 60, 7), ("5m", 300, 30), ("1h", 3600, 365))


@dataclass
class Stack:
    """A collector with agents reporting to it."""

    collector: ManagedProcess
    port: int
    tmp: Path
    agents: dict[str, ManagedProcess] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start_agent(self, host: str) -> ManagedProcess:
        proc = ManagedProcess(
            [
                console_script("hostvitals-agent"),
                "--interval",
                "1",
                "--collector-url",
                self.url,
                "--state-dir",
                str(self.tmp / f"agent-{host}"),
                "--host",
                host,
            ],
            self.tmp / f"agent-{host}.log",
            env=AGENT_ENV,
        )
        proc.start()
        self.agents[host] = proc
        return proc

    def wait_for_host(self, host: str, timeout: float = 30.0) -> None:
        def reported() -> bool:
            try:
                answer = requests.get(f"{self.url}/api/v1/fleet", timeout=2).json()
            except (requests.RequestException, ValueError):
                return False
            rows = [r for r in answer["data"]["hosts"] if r["host"] == host]
            # Rates need two frames: wait until CPU usage can be shown.
            return bool(rows) and rows[0]["summary"]["cpu_usage_ratio"] is not None

        wait_until(reported, timeout, f"host {host} to report to the collector", step=0.2)

    def stop(self) -> None:
        for proc in self.agents.values():
            proc.stop()
        self.collector.stop()


def tiers_env(tiers: dict[str, VictoriaMetrics]) -> dict[str, str]:
    """The shipped rollup tiers, each at its own test VictoriaMetrics."""
    rollups = [
        {"name": name, "url": tiers[name].url, "resolution_s": res, "retention_days": days}
        for name, res, days in ROLLUPS
    ]
    return {"HOSTVITALS__TIERS__ROLLUPS": json.dumps(rollups)}


def start_stack(
    tmp: Path,
    vm: VictoriaMetrics,
    tiers: dict[str, VictoriaMetrics],
    env: dict[str, str] | None = None,
) -> Stack:
    """A collector (``env``: more of its settings) at VictoriaMetrics ``vm`` and ``tiers``."""
    port = free_port()
    collector = ManagedProcess(
        [console_script("hostvitals-collector"), "--port", str(port)],
        tmp / f"collector-{port}.log",
        env={
            "HOSTVITALS__VICTORIAMETRICS__URL": vm.url,
            **tiers_env(tiers),
            **FAST_LIVE_ENV,
            **(env or {}),
        },
    )
    collector.start()
    stack = Stack(collector, port, tmp)
    try:
        wait_until(http_ok(f"{stack.url}/api/v1/health"), 30, "collector health")
    except TimeoutError as exc:
        collector.stop()
        raise RuntimeError(f"collector did not start:\n{collector.log_tail()}") from exc
    return stack


@pytest.fixture(scope="session")
def built_dashboard() -> Path:
    if not STATIC_INDEX.is_file():
        raise RuntimeError(
            f"the dashboard is not built ({STATIC_INDEX} is missing): run `make web`"
        )
    return STATIC_INDEX


@pytest.fixture(scope="module")
def stack(
    built_dashboard: Path,
    tmp_path_factory: pytest.TempPathFactory,
    victoria_metrics: VictoriaMetrics,
    vm_tiers: dict[str, VictoriaMetrics],
) -> Iterator[Stack]:
    """A collector and one agent, shared by a module's tests (host name in ``stack.agents``)."""
    running = start_stack(tmp_path_factory.mktemp("browser-stack"), victoria_metrics, vm_tiers)
    host = f"web-{uuid.uuid4().hex[:8]}"
    try:
        running.start_agent(host)
        running.wait_for_host(host)
        yield running
    finally:
        running.stop()


# Module scope, not session: Playwright's sync API keeps an event loop running in this thread
# while it is open, and asyncio tests of the other layers cannot run alongside it.
@pytest.fixture(scope="module")
def playwright_session() -> Iterator[Playwright]:
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        raise RuntimeError(f"{CHROMIUM} is missing: `make deps` installs Debian's chromium")
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="module")
def browser(playwright_session: Playwright) -> Iterator[Browser]:
    # launch() gives every run a fresh, temporary user-data directory.
    chromium = playwright_session.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
    )
    try:
        yield chromium
    finally:
        chromium.close()


@dataclass
class PageProblems:
    """What went wrong in the page: console errors, page errors, failed requests."""

    messages: list[str] = field(default_factory=list)

    def console(self, message: ConsoleMessage) -> None:
        if message.type in ("error", "assert"):
            self.messages.append(f"console.{message.type}: {message.text} ({message.location})")

    def request_failed(self, request: Request) -> None:
        # The pages abort requests they no longer need (a new range was picked, the page was
        # left); a live stream is cut when the page goes away.
        failure = request.failure or ""
        if "ERR_ABORTED" not in failure and "/api/v1/stream" not in request.url:
            self.messages.append(f"request failed: {request.url} {failure}")

    def assert_clean(self) -> None:
        assert not self.messages, "the page reported problems:\n" + "\n".join(self.messages)


def artifact_name(nodeid: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid.split("::")[-1])


@pytest.fixture
def problems() -> PageProblems:
    return PageProblems()


@pytest.fixture
def page(
    browser: Browser, problems: PageProblems, request: pytest.FixtureRequest
) -> Iterator[Page]:
    """A fresh context at 1280x800; problems are collected, a screenshot is saved at the end."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, color_scheme="light")
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    tab.on("console", problems.console)
    tab.on("pageerror", lambda exc: problems.messages.append(f"page error: {exc}"))
    tab.on("requestfailed", problems.request_failed)
    try:
        yield tab
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        try:
            tab.screenshot(path=str(ARTIFACTS / f"{artifact_name(request.node.nodeid)}.png"))
        finally:
            context.close()
