"""``GET /api/v1/health`` (the collector and its store) and ``GET /metrics`` (its own metrics)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from hostvitals.collector.config.tiers import VictoriaMetricsSettings
from hostvitals.collector.selfmetrics import EXPOSITION_CONTENT_TYPE, SelfMetrics
from hostvitals.collector.vm.probe import ReachabilityProbe
from hostvitals.collector.vm.writer import VictoriaMetricsWriter
from hostvitals.shared.masking import mask

router = APIRouter(tags=["health"])


@router.get(
    "/api/v1/health",
    summary="Collector health",
    responses={503: {"description": "degraded: the store is unreachable or the last write failed"}},
)
async def health(request: Request) -> JSONResponse:
    """``ok`` (200) when VictoriaMetrics answers its health check and the last write (if any)
    succeeded; ``degraded`` (503) otherwise."""
    state = request.app.state
    probe: ReachabilityProbe = state.probe
    writer: VictoriaMetricsWriter = state.writer
    result = await probe.check()
    write = writer.status()
    ok = result.reachable and write.last_write_ok is not False
    error = write.last_error if write.last_write_ok is False else result.error
    body: dict[str, Any] = {
        "status": "ok" if ok else "degraded",
        "victoriametrics": {
            **_where(state.settings.victoriametrics),
            "reachable": result.reachable,
            "last_write_ok": write.last_write_ok,
            "last_error": None if error is None else mask(error),
        },
        "version": state.version,
    }
    return JSONResponse(body, status_code=200 if ok else 503)


def _where(vm: VictoriaMetricsSettings) -> dict[str, str]:
    """The raw tier's URLs: ``url``, or with the cluster layout ``layout``, ``insert_url`` and
    ``select_url``. Public: a user and password in a URL (vmauth) stay hidden."""
    if not vm.is_cluster:
        return {"url": mask(str(vm.url))}
    return {
        "layout": vm.layout,
        "insert_url": mask(str(vm.insert_url)),
        "select_url": mask(str(vm.select_url)),
    }


@router.get("/metrics", summary="The collector's own metrics (Prometheus text format)")
async def metrics(request: Request) -> Response:
    registry: SelfMetrics = request.app.state.metrics
    return Response(registry.render(), media_type=EXPOSITION_CONTENT_TYPE)
