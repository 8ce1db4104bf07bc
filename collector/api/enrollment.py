"""Enrollment: the admin's enrollment tokens, ``POST /api/v1/agents/enroll`` (an enrollment
token registers a new agent) and ``GET /api/v1/agents/self`` (an agent's own registration,
which ``hostvitals-agent enroll`` asks for to check its credential).

Who may call these is the route table's business (:mod:`hostvitals.collector.access.routes`);
a new secret is in the answer that creates it, once, and is never shown again.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from hostvitals.collector.access.audit import Action, AuditLog, Result
from hostvitals.collector.access.enrollment import EnrollmentStore, HostEnrolled
from hostvitals.collector.access.roles import SCOPE_KEY, Principal
from hostvitals.collector.access.store import AccessError
from hostvitals.collector.api.responses import json_response
from hostvitals.collector.errors import ApiError

router = APIRouter(prefix="/api/v1", tags=["enrollment"])


class NewEnrollmentToken(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200, description="what it is for (e.g. ansible)")
    expires_in_s: float | None = Field(
        None, gt=0, description="seconds until it stops working; omitted: it does not expire"
    )


class Enrollment(BaseModel):
    model_config = ConfigDict(extra="forbid")
    host: str = Field(min_length=1, max_length=253, description="the host name its frames carry")
    agent_id: str = Field(min_length=1, max_length=200, description="the agent's id")


def _store(request: Request) -> EnrollmentStore:
    store: EnrollmentStore = request.app.state.enrollment_store
    return store


def _principal(request: Request) -> Principal:
    principal: Principal | None = request.scope.get(SCOPE_KEY)
    if principal is None:
        raise ApiError(500, "internal", "the access check did not run")
    return principal


async def _record(
    request: Request, action: Action, target: str, result: Result, detail: dict[str, Any]
) -> None:
    log: AuditLog = request.app.state.audit
    await asyncio.to_thread(
        log.record_request, request.scope, action, target=target, result=result, detail=detail
    )


def _ok(data: Any, status: int = 200) -> Any:
    response = json_response({"status": "success", "data": data})
    response.status_code = status
    return response


@router.get("/enrollment-tokens", summary="Enrollment tokens (never their secrets)")
async def list_enrollment_tokens(request: Request) -> Any:
    return _ok([t.public() for t in await asyncio.to_thread(_store(request).tokens)])


@router.post(
    "/enrollment-tokens", status_code=201, summary="Create an enrollment token, shown once"
)
async def create_enrollment_token(request: Request, body: NewEnrollmentToken) -> Any:
    try:
        record, secret = await asyncio.to_thread(
            _store(request).create, body.name, body.expires_in_s
        )
    except AccessError as exc:
        await _record(request, Action.ENROLLMENT_CREATE, body.name, Result.FAILED,
                      {"error": str(exc)})  # fmt: skip
        raise ApiError(400, "bad_data", str(exc)) from None
    await _record(request, Action.ENROLLMENT_CREATE, record.id, Result.OK, record.public())
    return _ok({**record.public(), "secret": secret}, 201)


@router.delete("/enrollment-tokens/{token_id}", summary="Revoke an enrollment token")
async def revoke_enrollment_token(request: Request, token_id: str) -> Any:
    try:
        await asyncio.to_thread(_store(request).revoke, token_id)
    except AccessError as exc:
        await _record(request, Action.ENROLLMENT_REVOKE, token_id, Result.FAILED,
                      {"error": str(exc)})  # fmt: skip
        raise ApiError(404, "not_found", str(exc)) from None
    await _record(request, Action.ENROLLMENT_REVOKE, token_id, Result.OK, {})
    return _ok({"id": token_id, "revoked": True})


@router.post(
    "/agents/enroll",
    status_code=201,
    summary="Register a new agent for a host with an enrollment token; its secret, shown once",
)
async def enroll(request: Request, body: Enrollment) -> Any:
    principal = _principal(request)
    counter = request.app.state.metrics.enrollments
    try:
        record, secret = await asyncio.to_thread(
            _store(request).enroll, principal.id, body.host, body.agent_id
        )
    except HostEnrolled as exc:
        counter.labels("host_enrolled").inc()
        await _record(request, Action.AGENT_ENROLL, body.host, Result.DENIED, {"error": str(exc)})
        raise ApiError(409, "conflict", str(exc)) from None
    except AccessError as exc:
        counter.labels("refused").inc()
        await _record(request, Action.AGENT_ENROLL, body.host, Result.FAILED, {"error": str(exc)})
        raise ApiError(400, "bad_data", str(exc)) from None
    counter.labels("enrolled").inc()
    await _record(request, Action.AGENT_ENROLL, record.id, Result.OK, record.public())
    return _ok({**record.public(), "secret": secret}, 201)


@router.get("/agents/self", summary="The calling agent's own registration")
async def agent_self(request: Request) -> Any:
    principal = _principal(request)
    return _ok(
        {
            "kind": principal.kind,
            "id": principal.id,
            "host": principal.host,
            "agent_id": principal.agent_id,
        }
    )
