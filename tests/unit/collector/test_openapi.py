"""The OpenAPI document behind /docs describes every endpoint and its parameters."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.routing import APIRoute

from hostvitals.collector.app import create_app
from tests.support.collector_app import FakeVictoriaMetrics, serving, settings


def test_every_route_is_documented_with_unique_operation_ids() -> None:
    app = create_app(settings(), backend=FakeVictoriaMetrics())
    spec = app.openapi()  # warns (an error under pytest) on duplicate operation ids
    documented = {(path, method.upper()) for path, ops in spec["paths"].items() for method in ops}
    for route in app.routes:
        if isinstance(route, APIRoute) and route.include_in_schema:
            for method in route.methods:
                assert (route.path, method) in documented


def test_pass_through_endpoints_list_their_parameters() -> None:
    spec = create_app(settings(), backend=FakeVictoriaMetrics()).openapi()

    def params(path: str, method: str) -> set[str]:
        return {p["name"] for p in spec["paths"][path][method].get("parameters", [])}

    assert {"query", "time"} <= params("/api/v1/query", "get")
    assert {"query", "start", "end", "step"} <= params("/api/v1/query_range", "post")
    assert "match[]" in params("/api/v1/series", "get")
    assert {"name", "match[]"} <= params("/api/v1/label/{name}/values", "get")
    assert {"host", "start", "end", "step"} <= params("/api/v1/metrics/{family}", "get")


async def test_docs_page_uses_only_local_assets(tmp_path: Path) -> None:
    async with serving(settings(), FakeVictoriaMetrics()) as (app, client):
        app.state.static_dir = tmp_path
        page = await client.get("/docs")
        assert page.status_code == 200
        assert "swagger" in page.text.lower()
        assert not re.search(r"(src|href)=['\"]https?://", page.text), "loads from elsewhere"
        assert "/swagger/swagger-ui-bundle.js" in page.text
        assert (await client.get("/openapi.json")).status_code == 200

        not_built = await client.get("/swagger/swagger-ui-bundle.js")
        assert not_built.status_code == 503
        assert "make web" in not_built.json()["error"]

        (tmp_path / "swagger").mkdir()
        (tmp_path / "swagger" / "swagger-ui.css").write_text("body {}")
        css = await client.get("/swagger/swagger-ui.css")
        assert css.status_code == 200
        assert css.headers["content-type"].startswith("text/css")
        assert (await client.get("/swagger/..%2Fsecret")).status_code == 404
        assert (await client.get("/swagger/other.js")).status_code == 404
