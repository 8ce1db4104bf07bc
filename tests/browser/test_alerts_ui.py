"""The alerts and SLO pages in real Chromium: a collector whose HighCPU rule fires within
seconds on CPU frames posted through the real ingest path, a real webhook receiver as its
notifier, and an SLO on the same CPU that burns its budget."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from playwright.sync_api import Page, expect

from tests.browser.conftest import ARTIFACTS, FAST_LIVE_ENV, ManagedProcess, PageProblems, Stack
from tests.e2e.alert_receivers import WebReceiver
from tests.e2e.conftest import console_script
from tests.e2e.test_alerts import CpuPoster
from tests.support.processes import VictoriaMetrics, free_port, http_ok, wait_until

pytestmark = pytest.mark.e2e
SLO = "web-cpu"
BROKEN_SLO = "web-broken"


def api(stack: Stack, path: str) -> Any:
    r = requests.get(f"{stack.url}/api/v1/{path}", timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["data"]


def write_config(path: Path, host: str, hook: str) -> Path:
    cpu = (
        f'100 * (1 - avg by (host) (rate(node_cpu_seconds_total{{mode="idle",host="{host}"}}[5s])))'
    )
    doc = {
        "state": {"dir": str(path.parent / "state")},
        "alerts": {
            "evaluation_interval_s": 0.5,
            "group_wait_s": 0.5,
            "group_interval_s": 1.0,
            "default_rules": {"cpu_for_s": 1.0, "rate_window_s": 15},
            "notifiers": [{"name": "hook", "type": "webhook", "url": hook}],
        },
        "slos": {
            "evaluation_interval_s": 1.0,
            "threshold_step_s": 10,
            "self_metrics_interval_s": 1.0,
            "window_s": 3600,
            "objectives": [
                {
                    "name": SLO,
                    "description": f"CPU of {host} stays at most 80 % busy.",
                    "target": 0.99,
                    "window_s": 3600,
                    "indicators": [
                        {"name": "cpu-headroom", "expr": cpu, "op": "<=", "threshold": 80}
                    ],
                },
                {
                    "name": BROKEN_SLO,
                    "target": 0.99,
                    "window_s": 3600,
                    "indicators": [
                        {"name": "refused", "expr": "sum(rate(", "op": "<", "threshold": 1}
                    ],
                },
            ],
        },
    }
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.fixture(scope="module")
def alerting(
    built_dashboard: Path,
    tmp_path_factory: pytest.TempPathFactory,
    victoria_metrics: VictoriaMetrics,
) -> Iterator[tuple[Stack, str]]:
    """A collector with a busy host whose HighCPU alert is firing; yields it and the host."""
    tmp = tmp_path_factory.mktemp("alerts-ui")
    host = f"busy-{uuid.uuid4().hex[:8]}"
    receiver = WebReceiver()
    receiver.start()
    port = free_port()
    config = write_config(tmp / "collector.yaml", host, receiver.url("/hook"))
    collector = ManagedProcess(
        [console_script("hostvitals-collector"), "--port", str(port)],
        tmp / "collector.log",
        env={
            "HOSTVITALS_CONFIG": str(config),
            "HOSTVITALS__VICTORIAMETRICS__URL": victoria_metrics.url,
            **FAST_LIVE_ENV,
        },
    )
    collector.start()
    stack = Stack(collector, port, tmp)
    poster: CpuPoster | None = None
    try:
        wait_until(http_ok(f"{stack.url}/api/v1/health"), 30, "collector health")
        poster = CpuPoster(stack.url, host, busy=0.95).start()

        def firing() -> bool:
            return any(
                a["labels"].get("alertname") == "HighCPU"
                and a["labels"].get("host") == host
                and a["state"] == "firing"
                for a in api(stack, "alerts")["alerts"]
            )

        wait_until(firing, 40, "HighCPU to fire", step=0.25)
        yield stack, host
    finally:
        if poster is not None:
            poster.stop()
        stack.stop()
        receiver.stop()


def test_alerts_page_silences_and_unsilences_a_firing_alert(
    alerting: tuple[Stack, str], page: Page, problems: PageProblems
) -> None:
    stack, host = alerting
    page.goto(f"{stack.url}/alerts")
    row = page.locator(f'#alerts-table tr[data-alert="HighCPU"][data-host="{host}"]')
    expect(row).to_have_attribute("data-state", "firing")
    expect(row.locator('td[data-col="severity"]')).to_have_text("high")
    expect(row.locator('td[data-col="value"]')).to_contain_text("threshold 80")
    expect(row.locator('td[data-col="alert"]')).to_contain_text("above 80 %")
    expect(page.locator('a[href="/alerts"] .nav-count')).to_be_visible()
    assert int(page.locator('a[href="/alerts"] .nav-count').inner_text()) >= 1
    expect(page.locator('#notifiers-table tr[data-notifier="hook"]')).to_be_visible()

    # Silence it from the page, by keyboard: the dialog asks who and why.
    row.locator("button.silence").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#silence-dialog")).to_be_visible()
    expect(page.locator("#silence-matchers")).to_contain_text(f'host="{host}"')
    page.locator("#silence-submit").click()
    expect(page.locator("#silence-error")).to_contain_text("who")
    page.fill("#silence-author", "ops-ui")
    page.fill("#silence-comment", "planned load test")
    page.select_option("#silence-duration", "7200")
    page.locator("#silence-submit").click()
    expect(page.locator("#silence-dialog")).to_be_hidden()
    expect(row).to_have_attribute("data-muted", "silenced")
    expect(row.locator("button.unsilence")).to_be_visible()

    mine = [s for s in api(stack, "silences") if s["createdBy"] == "ops-ui"]
    assert len(mine) == 1
    silence = mine[0]
    assert silence["status"]["state"] == "active"
    assert silence["comment"] == "planned load test"
    matchers = {m["name"]: m["value"] for m in silence["matchers"]}
    assert matchers["alertname"] == "HighCPU" and matchers["host"] == host
    assert "severity" not in matchers
    alert = next(
        a
        for a in api(stack, "alerts")["alerts"]
        if a["labels"]["alertname"] == "HighCPU" and a["labels"].get("host") == host
    )
    assert alert["muted"] == "silenced"
    expect(page.locator(f'#silences-table tr[data-silence="{silence["id"]}"]')).to_contain_text(
        "planned load test"
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "alerts.png"))  # the one in docs/img/

    # Unsilence expires the silence.
    row.locator("button.unsilence").click()
    expect(row).to_have_attribute("data-muted", "")
    (after,) = [s for s in api(stack, "silences") if s["id"] == silence["id"]]
    assert after["status"]["state"] == "expired"
    expect(page.locator(f'#silences-table tr[data-silence="{silence["id"]}"]')).to_have_count(0)
    problems.assert_clean()


def test_an_slo_whose_queries_fail_reads_unknown_with_its_error_and_never_burning(
    alerting: tuple[Stack, str], page: Page, problems: PageProblems
) -> None:
    stack, _host = alerting
    wait_until(
        lambda: api(stack, f"slos/{BROKEN_SLO}").get("evaluated_at") is not None,
        30,
        "the broken SLO's evaluation",
        step=0.5,
    )
    page.goto(f"{stack.url}/slos")
    slo = page.locator(f'article[data-slo="{BROKEN_SLO}"]')
    expect(slo).to_have_attribute("data-health", "unknown")
    expect(slo.locator(".badge")).to_have_text("unknown")
    expect(slo.locator(".slo-error")).to_contain_text("refused:")
    expect(slo.locator('td[data-burning="true"]')).to_have_count(0)
    expect(slo.locator("li.burning")).to_have_count(0)
    problems.assert_clean()


def test_slo_page_shows_the_budget_gauge_burn_rates_and_burn_down(
    alerting: tuple[Stack, str], page: Page, problems: PageProblems
) -> None:
    stack, _host = alerting

    def evaluated() -> bool:
        report = api(stack, f"slos/{SLO}")
        burn = api(stack, f"slos/{SLO}/burndown?points=100")
        return report.get("availability") is not None and len(burn["remaining"]) > 0

    wait_until(evaluated, 30, "the SLO report and its burn-down", step=0.5)
    page.goto(f"{stack.url}/slos")
    slo = page.locator(f'article[data-slo="{SLO}"]')
    expect(slo).to_have_attribute("data-health", "unhealthy")
    gauge = slo.locator(".gauge")
    expect(gauge).to_have_attribute("data-level", "empty")
    report = api(stack, f"slos/{SLO}")
    # The busy host fails the SLO all the time: the budget is overspent.
    assert report["error_budget"]["remaining_ratio"] < 0
    assert float(gauge.get_attribute("data-ratio") or 0) < 0
    assert (gauge.get_attribute("aria-valuenow") or "") == "0"
    expect(slo.locator('td[data-window="5m"]')).to_have_attribute("data-burning", "true")
    expect(slo.locator('li[data-indicator="cpu-headroom"]')).to_have_class("burning")
    page.wait_for_function(
        'id => Number(document.querySelector(`figure[data-chart="${id}"]`)'
        ".dataset.points || 0) > 0",
        arg=f"burndown-{SLO}",
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "slo.png"), full_page=True)  # the one in docs/img/
    # The built-in SLOs are listed as well.
    expect(page.locator('article[data-slo="hostvitals-ingest"] .gauge')).to_be_visible()

    # Phone width: nothing scrolls sideways; the dark theme applies.
    page.set_viewport_size({"width": 390, "height": 844})
    for path in ("/slos", "/alerts"):
        page.goto(f"{stack.url}{path}")
        expect(page.locator("h1")).to_be_visible()
        page.wait_for_function("() => Number(document.querySelector('main').dataset.loaded) > 0")
        overflow = page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        wide = page.evaluate(
            "() => [...document.querySelectorAll('main *')]"
            ".filter(e => e.getBoundingClientRect().right > innerWidth + 1)"
            ".slice(0, 5).map(e => e.tagName + '.' + e.className)"
        )
        assert overflow <= 1, f"{path} scrolls sideways at phone width by {overflow}px: {wide}"
    page.locator("#theme").click()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    problems.assert_clean()
