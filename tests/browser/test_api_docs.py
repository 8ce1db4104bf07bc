"""The API reference at /docs renders in a real browser from the collector's own files."""

from __future__ import annotations

from playwright.sync_api import Page

from tests.browser.conftest import PageProblems, Stack


def test_api_reference_renders_offline(stack: Stack, page: Page, problems: PageProblems) -> None:
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(f"{stack.url}/docs")
    page.locator(".opblock").first.wait_for()
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert "/api/v1/ingest" in paths
    assert "/api/v1/metrics/current" in paths
    outside = [url for url in requested if not url.startswith(stack.url)]
    assert outside == [], "the page loaded files from elsewhere"
    problems.assert_clean()
