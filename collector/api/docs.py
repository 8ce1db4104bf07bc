"""The API reference page, ``/docs``: Swagger UI served from the collector itself.

FastAPI's own ``/docs`` loads Swagger UI from a CDN; a collector on an isolated network could
not show it. The same files come from the npm registry through ``web/``'s lock file and are
built into ``collector/static/swagger/`` (``make web``).
"""

from __future__ import annotations

import re
from typing import Final

from fastapi import APIRouter, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse

from hostvitals.collector.api.assets import static_dir
from hostvitals.collector.errors import ApiError

router = APIRouter(include_in_schema=False)

SWAGGER_PREFIX: Final = "/swagger"
_FILES: Final = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon-32x32.png": "image/png",
}
_NAME: Final = re.compile(r"[a-z0-9.-]+")


@router.get("/docs")
async def api_docs(request: Request) -> Response:
    return get_swagger_ui_html(
        openapi_url=request.app.openapi_url or "/openapi.json",
        title=f"{request.app.title} - API reference",
        swagger_js_url=f"{SWAGGER_PREFIX}/swagger-ui-bundle.js",
        swagger_css_url=f"{SWAGGER_PREFIX}/swagger-ui.css",
        swagger_favicon_url=f"{SWAGGER_PREFIX}/favicon-32x32.png",
    )


@router.get(SWAGGER_PREFIX + "/{name}")
async def swagger_file(request: Request, name: str) -> Response:
    media_type = _FILES.get(name) if _NAME.fullmatch(name) else None
    path = static_dir(request) / "swagger" / name
    if media_type is None:
        raise ApiError(404, "not_found", f"no such file: {name}")
    if not path.is_file():
        raise ApiError(
            503, "unavailable", "the API reference is not built: run `make web` and reload"
        )
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": "max-age=86400"})
