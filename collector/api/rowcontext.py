"""The routers' handle on what fleet rows carry besides the live view: the collector's version
and the disk forecast (``app.state.forecast``, absent in bare test apps)."""

from __future__ import annotations

from fastapi import FastAPI, Request

from hostvitals.collector.live.fleet import NO_CONTEXT, RowContext
from hostvitals.collector.live.forecast import DiskForecast


def app_row_context(app: FastAPI) -> RowContext:
    forecast: DiskForecast | None = getattr(app.state, "forecast", None)
    version: str = getattr(app.state, "version", "")
    if forecast is None and not version:
        return NO_CONTEXT
    return RowContext(version, forecast.forecasts() if forecast is not None else {})


def row_context(request: Request) -> RowContext:
    return app_row_context(request.app)
