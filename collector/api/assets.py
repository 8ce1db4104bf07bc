"""Where the dashboard's built files are: ``collector/static/`` unless the app names another
folder (``app.state.static_dir``)."""

from __future__ import annotations

from pathlib import Path
from typing import Final

from fastapi import Request

STATIC_DIR: Final = Path(__file__).resolve().parent.parent / "static"


def static_dir(request: Request) -> Path:
    found = getattr(request.app.state, "static_dir", None)
    return found if isinstance(found, Path) else STATIC_DIR
