"""The dashboard: its pages, its built assets, and what the pages ask the server about itself.

The pages (``/``, ``/hosts/<host>``, ``/explore``, ``/alerts``, ``/slos``) are one HTML
document that the script in ``/assets/`` turns into the page the path names; they use only
the public API. The assets are built from ``web/`` into ``collector/static/`` (``make web``);
asset names carry a content hash, so they are cached for good while the document itself is
always revalidated.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Final

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse, JSONResponse

from hostvitals.collector.api.assets import static_dir
from hostvitals.collector.errors import ApiError

router = APIRouter(tags=["dashboard"])

_ASSET_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_ASSET_TYPES: Final = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".map": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
# Everything is served from here; nothing is loaded from anywhere else.
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)
_PAGE_HEADERS: Final = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def _page(static_dir: Path) -> Response:
    index = static_dir / "index.html"
    if not index.is_file():
        raise ApiError(
            503,
            "unavailable",
            "the dashboard is not built: run `make web` (it needs node and npm) and reload",
        )
    return FileResponse(index, media_type="text/html; charset=utf-8", headers=_PAGE_HEADERS)


@router.get("/", include_in_schema=False)
async def fleet_page(request: Request) -> Response:
    return _page(static_dir(request))


@router.get("/hosts/{host}", include_in_schema=False)
async def host_page(request: Request, host: str) -> Response:
    return _page(static_dir(request))


@router.get("/explore", include_in_schema=False)
async def explore_page(request: Request) -> Response:
    return _page(static_dir(request))


@router.get("/alerts", include_in_schema=False)
async def alerts_page(request: Request) -> Response:
    return _page(static_dir(request))


@router.get("/slos", include_in_schema=False)
async def slos_page(request: Request) -> Response:
    return _page(static_dir(request))


@router.get("/audit", include_in_schema=False)
async def audit_page(request: Request) -> Response:
    return _page(static_dir(request))


@router.get("/assets/{name}", include_in_schema=False)
async def asset(request: Request, name: str) -> Response:
    suffix = Path(name).suffix
    path = static_dir(request) / "assets" / name
    if not _ASSET_NAME.fullmatch(name) or suffix not in _ASSET_TYPES or not path.is_file():
        raise ApiError(404, "not_found", f"no dashboard asset named {name!r}")
    return FileResponse(
        path,
        media_type=_ASSET_TYPES[suffix],
        headers={
            "Cache-Control": "public, max-age=31536000, immutable",
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.get("/api/v1/ui", summary="What the dashboard needs to know about this collector")
async def ui_info(request: Request) -> JSONResponse:
    """Features present in this collector and the limits the pages follow."""
    settings = request.app.state.settings
    # The alerting API (/api/v1/alerts, /slos...) answers when the collector runs an engine.
    alerting = getattr(request.app.state, "alerts", None) is not None
    data: dict[str, Any] = {
        "version": request.app.state.version,
        "features": {"alerts": alerting},
        "query": {"max_points": settings.query.max_points},
        "live": {
            "stale_after_flushes": settings.live.stale_after_flushes,
            "down_after_flushes": settings.live.down_after_flushes,
            "stream_interval_s": settings.ui.stream_interval_s,
        },
    }
    return JSONResponse({"status": "success", "data": data})
