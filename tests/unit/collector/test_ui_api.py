"""The dashboard's pages and assets, and GET /api/v1/ui."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.collector_app import running


@pytest.fixture
def static_dir(tmp_path: Path) -> Path:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><title>hostvitals</title>")
    (tmp_path / "assets" / "main-ABC123.js").write_text("console.log(1)")
    return tmp_path


@pytest.mark.parametrize("path", ["/", "/hosts/web-1", "/hosts/a%20b", "/explore"])
async def test_pages_serve_the_document_with_a_strict_policy(static_dir: Path, path: str) -> None:
    async with running() as (app, client, _vm):
        app.state.static_dir = static_dir
        response = await client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-cache"
    assert "hostvitals" in response.text


async def test_assets_are_cached_for_good(static_dir: Path) -> None:
    async with running() as (app, client, _vm):
        app.state.static_dir = static_dir
        response = await client.get("/assets/main-ABC123.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert "immutable" in response.headers["cache-control"]


@pytest.mark.parametrize(
    "name", ["missing.js", "..%2Findex.html", "main-ABC123.exe", ".hidden.js", "index.html"]
)
async def test_unknown_or_unsafe_assets_are_404(static_dir: Path, name: str) -> None:
    async with running() as (app, client, _vm):
        app.state.static_dir = static_dir
        response = await client.get(f"/assets/{name}")
    assert response.status_code == 404
    assert response.json()["status"] == "error"


async def test_an_unbuilt_dashboard_says_how_to_build_it(tmp_path: Path) -> None:
    async with running() as (app, client, _vm):
        app.state.static_dir = tmp_path
        response = await client.get("/")
    assert response.status_code == 503
    assert "make web" in response.json()["error"]


async def test_ui_info_names_features_and_limits() -> None:
    async with running() as (app, client, _vm):
        response = await client.get("/api/v1/ui")
        has_alerts = getattr(app.state, "alerts", None) is not None
    data = response.json()["data"]
    assert data["features"] == {"alerts": has_alerts} and has_alerts
    assert data["query"]["max_points"] == 11_000
    assert data["live"]["stale_after_flushes"] == 3.0
