"""The Audit page: an admin sees who did what (the ``tokens`` command, a silence made in the
API), filters by action, and sees the hash chain break when a record is edited on disk; a
viewer is not offered the page."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import requests
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import ARTIFACTS, FAST_LIVE_ENV, PageProblems, Stack
from tests.e2e.conftest import console_script
from tests.support.processes import ManagedProcess, VictoriaMetrics, free_port, http_ok, wait_until

pytestmark = pytest.mark.e2e


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [console_script("hostvitals-collector"), *args],
        env={**os.environ, **env}, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return done.stdout.strip()


@pytest.fixture(scope="module")
def audited(
    built_dashboard: Path,
    tmp_path_factory: pytest.TempPathFactory,
    victoria_metrics: VictoriaMetrics,
) -> Iterator[tuple[Stack, str, str]]:
    tmp = tmp_path_factory.mktemp("audited-stack")
    env = {
        "HOSTVITALS__VICTORIAMETRICS__URL": victoria_metrics.url,
        "HOSTVITALS__STATE__DIR": str(tmp / "state"),
        "HOSTVITALS__TIERS__ROLLUPS": "[]",
        "HOSTVITALS_CONFIG": "",
        **FAST_LIVE_ENV,
    }
    admin = cli(env, "tokens", "add", "--name", "browser-admin", "--role", "admin")
    viewer = cli(env, "tokens", "add", "--name", "browser-viewer", "--role", "viewer")
    port = free_port()
    collector = ManagedProcess(
        [console_script("hostvitals-collector"), "--port", str(port)], tmp / "collector.log",
        env=env,
    )  # fmt: skip
    collector.start()
    stack = Stack(collector, port, tmp)
    try:
        wait_until(http_ok(f"{stack.url}/api/v1/health"), 30, "collector health")
        silence = requests.post(
            f"{stack.url}/api/v1/silences",
            json={"matchers": [{"name": "host", "value": "web-1", "isRegex": False}],
                  "durationSeconds": 600, "createdBy": "browser", "comment": "audit page"},
            headers={"Authorization": f"Bearer {admin}"}, timeout=10,
        )  # fmt: skip
        assert silence.status_code == 201, silence.text
        yield stack, admin, viewer
    finally:
        stack.stop()


def open_as(browser: Browser, secret: str, problems: PageProblems) -> Page:
    context = browser.new_context(
        viewport={"width": 1280, "height": 800},
        extra_http_headers={"Authorization": f"Bearer {secret}"},
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.on("console", problems.console)
    page.on("pageerror", lambda exc: problems.messages.append(f"page error: {exc}"))
    page.on("requestfailed", problems.request_failed)
    return page


def test_an_admin_reads_the_audit_log_and_sees_tampering(
    audited: tuple[Stack, str, str], browser: Browser, problems: PageProblems
) -> None:
    stack, admin, _viewer = audited
    page = open_as(browser, admin, problems)
    try:
        page.goto(f"{stack.url}/")
        page.locator("#nav a", has_text="Audit").click()
        expect(page).to_have_url(f"{stack.url}/audit")
        expect(page.locator("#audit-chain")).to_have_attribute("data-chain", "ok")
        expect(page.locator("#audit-chain")).to_contain_text("Hash chain intact: 3 records")
        rows = page.locator("#audit-table tbody tr")
        expect(rows).to_have_count(3)
        created = page.locator('#audit-table tr[data-action="silence.create"]')
        expect(created).to_contain_text("token:browser-admin")
        expect(created).to_contain_text("audit page")
        expect(page.locator('#audit-table tr[data-action="token.add"]').first).to_contain_text(
            "cli:"
        )
        page.select_option("#audit-action", "token.add")
        expect(rows).to_have_count(2)
        expect(page.locator('#audit-table tr[data-action="silence.create"]')).to_have_count(0)
        page.fill("#audit-subject", "nobody")
        expect(page.locator("#audit-empty")).to_be_visible()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.select_option("#audit-action", "")
        page.fill("#audit-subject", "")
        expect(rows).to_have_count(3)
        page.screenshot(path=str(ARTIFACTS / "audit_page.png"))

        # Someone with access to the disk rewrites who made the first token.
        segment = sorted((stack.tmp / "state" / "audit").glob("audit-*.jsonl"))[0]
        lines = segment.read_bytes().splitlines(keepends=True)
        first = orjson.loads(lines[0])
        first["subject"] = "cli:someone-else"
        lines[0] = orjson.dumps(first) + b"\n"
        segment.write_bytes(b"".join(lines))
        page.reload()
        expect(page.locator("#audit-chain")).to_have_attribute("data-chain", "broken")
        expect(page.locator("#audit-problems li").first).to_contain_text(
            "seq 1 was changed after it was written"
        )
        page.screenshot(path=str(ARTIFACTS / "audit_page_tampered.png"))
        problems.assert_clean()
    finally:
        page.context.close()


def test_a_viewer_is_not_offered_the_audit_page(
    audited: tuple[Stack, str, str], browser: Browser, problems: PageProblems
) -> None:
    stack, _admin, viewer = audited
    page = open_as(browser, viewer, problems)
    try:
        page.goto(f"{stack.url}/")
        expect(page.locator("#nav a", has_text="Fleet")).to_be_visible()
        expect(page.locator("#nav a", has_text="Audit")).to_have_count(0)
        problems.assert_clean()
    finally:
        page.context.close()
    answer = requests.get(f"{stack.url}/audit", headers={"Authorization": f"Bearer {viewer}"},
                          timeout=10)  # fmt: skip
    assert answer.status_code == 403
