"""``POST /api/v1/ingest``: agents push msgpack frames here (see docs/protocol.md)."""

from __future__ import annotations

from collections.abc import AsyncIterable, Mapping

from fastapi import APIRouter, Request, Response
from starlette.datastructures import State
from starlette.types import Scope

from hostvitals.collector.access.audit import Action, AuditLog, Result
from hostvitals.collector.access.binding import frame_check
from hostvitals.collector.access.roles import SCOPE_KEY
from hostvitals.collector.drain import Drain
from hostvitals.collector.errors import ApiError
from hostvitals.collector.ingest.pipeline import IngestPipeline
from hostvitals.shared.protocol import CONTENT_TYPE, FLUSH_INTERVAL_HEADER

router = APIRouter(tags=["ingest"])

_ERROR = {"description": "error", "content": {"application/json": {}}}


@router.post(
    "/api/v1/ingest",
    status_code=204,
    response_class=Response,
    summary="Push one frame of samples",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {CONTENT_TYPE: {"schema": {"type": "string", "format": "binary"}}},
        }
    },
    responses={
        204: {
            "description": "written (or already written earlier); while someone watches the "
            f"host, `{FLUSH_INTERVAL_HEADER}` asks the agent to flush that often (seconds)",
            "headers": {
                FLUSH_INTERVAL_HEADER: {
                    "description": "seconds between frames the collector asks for",
                    "schema": {"type": "number"},
                }
            },
        },
        **{
            code: {**_ERROR, "description": text}
            for code, text in {
                400: "not msgpack, corrupt compression or unsupported protocol version",
                401: "missing or unknown bearer token",
                403: "not an agent credential, or the frame's host or agent id is not the "
                "credential's",
                413: "body or decompressed body over the limit",
                415: "unsupported Content-Type or Content-Encoding",
                422: "not a valid frame, or a policy refused it",
                500: "the store refused lines the collector generated",
                503: "overloaded, the store cannot take writes, or the collector is "
                "shutting down; see Retry-After",
            }.items()
        },
    },
)
async def ingest(request: Request) -> Response:
    headers = await accept(request.app.state, request.scope, request.headers, request.stream())
    return Response(status_code=204, headers=headers)


async def accept(
    state: State, scope: Scope, headers: Mapping[str, str], chunks: AsyncIterable[bytes]
) -> dict[str, str]:
    """Take one pushed frame; the headers of the 204 answer. Raises ApiError."""
    drain: Drain = state.drain
    if drain.active:
        retry_after = str(state.settings.victoriametrics.retry_after_s)
        raise ApiError(
            503,
            "shutting_down",
            "the collector is shutting down; send the frame again later",
            headers={"Retry-After": retry_after},
        )
    pipeline: IngestPipeline = state.pipeline
    audit: AuditLog = state.audit

    def refused(reason: str, agent_id: str, host: str) -> None:
        principal = scope.get(SCOPE_KEY)
        if principal is not None and audit.first_in_a_while("binding", principal.id, reason):
            detail = {"reason": reason, "frame_agent_id": agent_id, "frame_host": host}
            audit.record_request(
                scope,
                Action.AGENT_BINDING_DENIED,
                target=principal.id,
                result=Result.DENIED,
                detail=detail,
            )

    check = frame_check(scope.get(SCOPE_KEY), state.access_store, refused)
    outcome = await pipeline.ingest(headers, chunks, check)
    if outcome.flush_interval_s is None:
        return {}
    return {FLUSH_INTERVAL_HEADER: f"{outcome.flush_interval_s:g}"}
