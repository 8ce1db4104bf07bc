"""The dashboard in real Chromium against a running agent, collector and VictoriaMetrics."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, quote, urlparse

import pytest
import requests
from playwright.sync_api import Page, Request, Response, expect

from tests.browser.conftest import PageProblems, Stack

pytestmark = pytest.mark.e2e


def only_host(stack: Stack) -> str:
    return next(iter(stack.agents))


def chart_numbers(page: Page, chart_id: str) -> tuple[int, int]:
    """(points, lines) drawn by one chart."""
    figure = page.locator(f'figure[data-chart="{chart_id}"]')
    return int(figure.get_attribute("data-points") or 0), int(
        figure.get_attribute("data-lines") or 0
    )


def wait_loaded(page: Page, at_least: int = 1) -> None:
    page.wait_for_function(
        "n => Number(document.querySelector('main').dataset.loaded || 0) >= n", arg=at_least
    )


def test_fleet_page_shows_the_host_live(stack: Stack, page: Page, problems: PageProblems) -> None:
    host = only_host(stack)
    page.goto(f"{stack.url}/")
    row = page.locator(f'tr[data-host="{host}"]')
    expect(row).to_have_attribute("data-status", "up")
    expect(row.locator('td[data-col="cpu"] .value')).to_have_text(re.compile(r"\d+\.\d %"))
    expect(row.locator('td[data-col="memory"] .value')).to_have_text(re.compile(r"\d+\.\d %"))
    # Sparklines are drawn from the fleet history API.
    expect(row.locator('td[data-col="cpu"] .spark canvas')).to_have_count(1)
    expect(page.locator(".live-state")).to_have_attribute("data-state", "live")
    # Sorting and filtering work on the live table.
    page.locator('button[data-sort="cpu"]').click()
    expect(page.locator('th[data-col="cpu"]')).to_have_attribute("aria-sort", "descending")
    page.fill("#fleet-filter", "no-such-host")
    expect(row).to_be_hidden()
    page.fill("#fleet-filter", host[:6])
    expect(row).to_be_visible()
    page.screenshot(path=str(stack.tmp / "fleet.png"))
    problems.assert_clean()


def test_host_page_charts_show_the_agent_data_and_update_live(
    stack: Stack, page: Page, problems: PageProblems
) -> None:
    host = only_host(stack)
    page.goto(f"{stack.url}/hosts/{quote(host)}?range=15m")
    wait_loaded(page)
    expect(page.locator("#host-status")).to_have_text("up")
    charts = ["cpu-usage", "cpu-cores", "load", "memory-used", "fs-used", "net-bytes"]
    charts += ["system-events", "system-tasks", "system-filefd"]
    if Path("/proc/pressure/cpu").exists():
        charts.append("pressure-waiting")
    for chart_id in charts:
        page.wait_for_function(
            'id => Number(document.querySelector(`figure[data-chart="${id}"]`)'
            ".dataset.points || 0) > 0",
            arg=chart_id,
        )
    # One line per CPU of the host, as the agent reports them.
    step = float(page.locator("#step").get_attribute("data-step") or 0)
    points, lines = chart_numbers(page, "cpu-cores")
    cores = requests.get(f"{stack.url}/api/v1/metrics/current?host={host}", timeout=5).json()
    n_cpus = len(
        {
            s["labels"]["cpu"]
            for s in cores["data"][0]["series"]
            if s["metric"] == "node_cpu_seconds_total"
        }
    )
    assert lines == n_cpus
    # Never more points than pixels: the step follows the chart width.
    width = page.evaluate(
        "() => document.querySelector('figure[data-chart=\"cpu-usage\"] .u-over').clientWidth"
    )
    assert step >= 900 / width
    assert points / lines <= width
    # The top-process table is filled from the live stream.
    expect(page.locator("#processes tbody tr").first).to_be_visible()
    # Live: new frames pull new points without a reload.
    page.evaluate("() => { window.__notReloaded = true; }")
    loaded = int(page.locator("main").get_attribute("data-loaded") or 0)
    wait_loaded(page, loaded + 2)
    assert page.evaluate("() => window.__notReloaded === true")
    page.screenshot(path=str(stack.tmp / "host.png"), full_page=False)
    problems.assert_clean()


def test_crosshair_is_synced_and_keyboard_reachable(
    stack: Stack, page: Page, problems: PageProblems
) -> None:
    host = only_host(stack)
    page.goto(f"{stack.url}/hosts/{quote(host)}?range=15m")
    wait_loaded(page)
    page.wait_for_function(
        "() => Number(document.querySelector('figure[data-chart=\"load\"]')"
        ".dataset.points || 0) > 0"
    )
    over = page.locator('figure[data-chart="cpu-usage"] .u-over')
    box = over.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.97, box["y"] + box["height"] / 2)
    tooltip = page.locator('figure[data-chart="cpu-usage"] .tooltip')
    expect(tooltip).to_be_visible()
    # The other charts follow the same cursor (uPlot shows their cursor line).
    other_cursor = page.locator('figure[data-chart="memory-used"] .u-cursor-x')
    page.wait_for_function(
        "el => !el.style.transform.includes('-10px') && el.style.display !== 'none'",
        arg=other_cursor.element_handle(),
    )
    expect(page.locator('figure[data-chart="memory-used"] .tooltip')).to_be_hidden()
    # Keyboard: focus a chart and move its cursor with the arrow keys.
    page.mouse.move(0, 0)
    load_plot = page.locator('figure[data-chart="load"] .plot')
    load_plot.focus()
    page.keyboard.press("End")
    page.keyboard.press("ArrowLeft")
    expect(page.locator('figure[data-chart="load"] .tooltip')).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator('figure[data-chart="load"] .tooltip')).to_be_hidden()
    # Every range button is reachable with Tab.
    page.locator('button[data-range="15m"]').focus()
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.dataset.range") == "1h"
    # Legend buttons toggle series.
    legend = page.locator('figure[data-chart="load"] .legend-item').first
    legend.press("Enter")
    expect(legend).to_have_attribute("aria-pressed", "false")
    problems.assert_clean()


def test_a_range_is_asked_for_at_one_step_from_its_first_load_on(
    stack: Stack, page: Page, problems: PageProblems
) -> None:
    """Each family keeps the step of its first load through the live refreshes after it. The
    first load measures the shown charts only: a hidden optional section's charts measured
    50 px, so the first load of 15 minutes asked for 10-20 s steps, the refreshes for 2 s."""
    host = only_host(stack)
    steps: dict[str, set[str]] = {}

    def note(request: Request) -> None:
        url = urlparse(request.url)
        query = parse_qs(url.query)
        if url.path.startswith("/api/v1/metrics/") and "step" in query:
            steps.setdefault(url.path.rsplit("/", 1)[-1], set()).update(query["step"])

    page.on("request", note)
    page.goto(f"{stack.url}/hosts/{quote(host)}?range=15m")
    wait_loaded(page)
    wait_loaded(page, int(page.locator("main").get_attribute("data-loaded") or 0) + 2)
    assert {"cpu", "memory", "disk", "network"} <= steps.keys()
    assert all(len(found) == 1 for found in steps.values()), steps
    problems.assert_clean()


def test_range_picker_changes_the_step_with_the_range(
    stack: Stack, page: Page, problems: PageProblems
) -> None:
    host = only_host(stack)
    page.goto(f"{stack.url}/hosts/{quote(host)}?range=15m")
    wait_loaded(page)
    steps = []
    for key in ("15m", "24h", "7d", "1y"):
        before = int(page.locator("main").get_attribute("data-loaded") or 0)
        if key != "15m":
            shown = page.locator("#step").get_attribute("data-step")
            page.locator(f'button[data-range="{key}"]').click()
            wait_loaded(page, before + 1)
            # A live refresh of the previous range can also bump the load counter; the new
            # range has been drawn once the step shown is no longer the previous one.
            page.wait_for_function(
                "old => document.querySelector('#step').dataset.step !== old",
                arg=shown,
            )
        expect(page.locator(f'button[data-range="{key}"]')).to_have_attribute(
            "aria-pressed", "true"
        )
        steps.append(float(page.locator("#step").get_attribute("data-step") or 0))
        assert f"range={key}" in page.url
    assert steps == sorted(steps) and len(set(steps)) == len(steps), steps
    # Each step keeps a line within the plot's pixels.
    width = page.evaluate(
        "() => document.querySelector('figure[data-chart=\"cpu-usage\"] .u-over').clientWidth"
    )
    assert all(
        span / step <= width
        for span, step in zip((900, 86400, 7 * 86400, 365 * 86400), steps, strict=True)
    )
    problems.assert_clean()


def test_range_picker_moves_across_tiers(stack: Stack, page: Page, problems: PageProblems) -> None:
    host = only_host(stack)
    page.goto(f"{stack.url}/hosts/{quote(host)}?range=15m")
    wait_loaded(page)
    shown: dict[str, str | None] = {}
    spans = {"6h": 6 * 3600, "24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400, "1y": 365 * 86400}
    for key, span in spans.items():

        def whole_range(response: Response, span: int = span) -> bool:
            # The full load of the new range, not a live refresh of the previous one (which
            # asks for the newest points only and is cancelled by the click).
            if "/api/v1/metrics/cpu?" not in response.url:
                return False
            query = parse_qs(urlparse(response.url).query)
            return float(query["end"][0]) - float(query["start"][0]) >= 0.9 * span

        with page.expect_response(whole_range) as caught:
            page.locator(f'button[data-range="{key}"]').click()
        answered = caught.value.json()["data"].get("tier")
        # The stack always configures rollup tiers: an answer naming none is a regression.
        assert answered is not None, f"the {key} range's answer names no tier"
        # The badge names the tier that answered this range.
        page.wait_for_function(
            "t => document.querySelector('#tier').dataset.tier === t", arg=answered
        )
        shown[key] = page.locator("#tier").get_attribute("data-tier")
    # Longer ranges move to coarser tiers: raw for hours, rollups for days and more.
    assert shown["6h"] == "raw"
    assert len(set(shown.values())) >= 3, shown
    problems.assert_clean()


def test_a_long_range_is_refreshed_from_the_tier_that_answered_it(
    stack: Stack, page: Page, problems: PageProblems
) -> None:
    """The 24 h preset starts on the raw tier's retention edge: every family of its load
    comes from one rollup tier, and the live refreshes (the newest points only, a window the
    raw tier would cover) ask that tier again, so the badge and the series stay on it."""
    host = only_host(stack)

    charts = ("cpu", "memory", "disk", "network", "pressure", "system", "sensors", "devices")

    def family_load(response: Response) -> bool:
        path = urlparse(response.url).path
        return (
            path in {f"/api/v1/metrics/{f}" for f in charts} and "resolution=" not in response.url
        )

    answers: list[Response] = []
    page.on("response", lambda r: answers.append(r) if family_load(r) else None)
    page.goto(f"{stack.url}/hosts/{quote(host)}?range=24h")
    wait_loaded(page)
    tiers = {r.json()["data"]["tier"] for r in answers}
    assert len(tiers) == 1 and tiers != {"raw"}, tiers
    (tier,) = tiers

    def refresh(request: Request) -> bool:
        if "/api/v1/metrics/cpu?" not in request.url:
            return False
        query = parse_qs(urlparse(request.url).query)
        return float(query["end"][0]) - float(query["start"][0]) < 3600

    with page.expect_request(refresh, timeout=30_000) as caught:
        pass
    assert parse_qs(urlparse(caught.value.url).query)["resolution"] == [tier]
    response = caught.value.response()
    assert response is not None and response.json()["data"]["tier"] == tier
    page.wait_for_function("() => Number(document.querySelector('main').dataset.loaded) >= 2")
    expect(page.locator("#tier")).to_have_attribute("data-tier", tier)
    problems.assert_clean()


def test_explore_query_renders_a_chart_and_a_table(
    stack: Stack, page: Page, problems: PageProblems
) -> None:
    host = only_host(stack)
    expr = f'node_load1{{host="{host}"}}'
    page.goto(f"{stack.url}/explore")
    page.fill("#expr", expr)
    page.keyboard.press("Control+Enter")
    status = page.locator("#explore-status")
    expect(status).to_have_attribute("data-series", "1")
    points, lines = chart_numbers(page, "explore")
    assert lines == 1 and points > 0
    rows = page.locator("#explore-table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(host)
    # The URL holds the query: opening it again shows the same result.
    assert "q=" in page.url
    page.goto(page.url)
    expect(page.locator("#explore-status")).to_have_attribute("data-series", "1")
    assert page.input_value("#expr") == expr
    legend = page.locator('figure[data-chart="explore"] .legend-item').first
    legend.click()
    expect(legend).to_have_attribute("aria-pressed", "false")
    page.screenshot(path=str(stack.tmp / "explore.png"))
    problems.assert_clean()


def test_explore_shows_the_error_of_a_bad_query(
    stack: Stack, page: Page, problems: PageProblems
) -> None:
    page.goto(f"{stack.url}/explore?q={quote('rate(node_load1[')}")
    expect(page.locator("#explore-error")).to_contain_text("rate(node_load1[")
    # The browser logs the error answers themselves (VictoriaMetrics' 422, passed through);
    # nothing else may go wrong.
    problems.messages = [
        m for m in problems.messages if not ("Failed to load resource" in m and "/query" in m)
    ]
    problems.assert_clean()


def test_stopped_agent_turns_stale_then_down_without_reload(
    stack: Stack, page: Page, problems: PageProblems
) -> None:
    host = f"{only_host(stack)}-stop"
    agent = stack.start_agent(host)
    stack.wait_for_host(host)
    page.goto(f"{stack.url}/")
    row = page.locator(f'tr[data-host="{host}"]')
    expect(row).to_have_attribute("data-status", "up")
    page.evaluate("() => { window.__notReloaded = true; }")
    agent.stop()
    expect(row).to_have_attribute("data-status", "stale", timeout=20_000)
    expect(row.locator('td[data-col="status"] .value')).to_have_text("stale")
    expect(row).to_have_attribute("data-status", "down", timeout=30_000)
    assert page.evaluate("() => window.__notReloaded === true")
    problems.assert_clean()


COUNT_LIVE_EVENTS = """
window.__liveEvents = {};
const listen = EventSource.prototype.addEventListener;
EventSource.prototype.addEventListener = function (type, handler, options) {
  const counted = (event) => {
    window.__liveEvents[type] = (window.__liveEvents[type] || 0) + 1;
    return handler(event);
  };
  return listen.call(this, type, counted, options);
};
"""


def test_a_new_host_arrives_on_the_fleet_page_as_a_delta_without_reload(
    stack: Stack, page: Page, problems: PageProblems
) -> None:
    known = only_host(stack)
    page.add_init_script(COUNT_LIVE_EVENTS)
    page.goto(f"{stack.url}/")
    expect(page.locator(f'tr[data-host="{known}"]')).to_have_attribute("data-status", "up")
    expect(page.locator(".live-state")).to_have_attribute("data-state", "live")
    page.wait_for_function("() => (window.__liveEvents.fleet || 0) >= 1")
    host = f"{known}-new"
    agent = stack.start_agent(host)
    try:
        row = page.locator(f'tr[data-host="{host}"]')
        expect(row).to_have_attribute("data-status", "up", timeout=30_000)
        expect(row.locator('td[data-col="cpu"] .value')).to_have_text(
            re.compile(r"\d+\.\d %"), timeout=30_000
        )
        # The rows that did not change stay; the page was fed the changes, not the fleet.
        expect(page.locator(f'tr[data-host="{known}"]')).to_have_attribute("data-status", "up")
        counts = page.evaluate("() => window.__liveEvents")
        assert counts.get("fleet-delta", 0) >= 1, counts
        assert counts.get("fleet") == 1, counts
    finally:
        agent.stop()
    problems.assert_clean()


def test_phone_width_and_dark_theme(stack: Stack, page: Page, problems: PageProblems) -> None:
    host = only_host(stack)
    page.set_viewport_size({"width": 390, "height": 844})
    for path in ("/", f"/hosts/{quote(host)}?range=15m", "/explore"):
        page.goto(f"{stack.url}{path}")
        if path.startswith("/hosts"):
            wait_loaded(page)
        else:
            expect(page.locator("h1")).to_be_visible()
        overflow = page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 1, f"{path} scrolls sideways at phone width by {overflow}px"
    light = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    page.locator("#theme").click()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    dark = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    assert light != dark
    page.reload()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    problems.assert_clean()
