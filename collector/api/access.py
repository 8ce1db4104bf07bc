"""API tokens and the agent registry (admin), and ``GET /api/v1/whoami``.

Who may call these is the route table's business (:mod:`hostvitals.collector.access.routes`);
a new secret is in the answer that creates it, once, and is never shown again.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from hostvitals.collector.access import cookies
from hostvitals.collector.access.audit import Action, AuditLog, Result
from hostvitals.collector.access.roles import SCOPE_KEY, Principal
from hostvitals.collector.access.store import AccessError, AccessStore
from hostvitals.collector.access.users import csrf_token
from hostvitals.collector.api.responses import json_response
from hostvitals.collector.errors import ApiError

router = APIRouter(prefix="/api/v1", tags=["access"])


class NewToken(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200, description="who or what uses it")
    role: str = Field(description="viewer, operator or admin")


class NewAgent(BaseModel):
    model_config = ConfigDict(extra="forbid")
    host: str = Field(min_length=1, max_length=253, description="the host name its frames carry")
    agent_id: str | None = Field(
        None, max_length=200, description="the agent's id; omitted: its first frame pins it"
    )


def _store(request: Request) -> AccessStore:
    store: AccessStore = request.app.state.access_store
    return store


def _ok(data: Any, status: int = 200) -> Any:
    response = json_response({"status": "success", "data": data})
    response.status_code = status
    return response


async def _run(call: Any, *args: Any, audit: tuple[Request, Action, str] | None = None) -> Any:
    """Run a store call in a thread; with ``audit`` (request, action, target) record it,
    refused or done."""
    try:
        done = await asyncio.to_thread(call, *args)
    except AccessError as exc:
        if audit is not None:
            await _record(*audit, Result.FAILED, {"error": str(exc)})
        status = 404 if str(exc).startswith("no ") else 400
        raise ApiError(status, "not_found" if status == 404 else "bad_data", str(exc)) from None
    if audit is not None:
        request, action, target = audit
        record = done[0] if isinstance(done, tuple) else done  # (record, secret) or record
        public = record.public() if hasattr(record, "public") else None  # never the secret
        await _record(request, action, getattr(record, "id", None) or target, Result.OK, public)
    return done


async def _record(
    request: Request, action: Action, target: str, result: Result, detail: dict[str, Any] | None
) -> None:
    log: AuditLog = request.app.state.audit
    await asyncio.to_thread(
        log.record_request, request.scope, action, target=target, result=result, detail=detail
    )


@router.get("/whoami", summary="The caller's role and credential (and a session's CSRF token)")
async def whoami(request: Request) -> Any:
    principal: Principal | None = request.scope.get(SCOPE_KEY)
    if principal is None:
        raise ApiError(500, "internal", "the access check did not run")
    answer: dict[str, Any] = {
        "kind": principal.kind,
        "role": str(principal.role),
        "id": principal.id,
        "name": principal.name,
    }
    secret = cookies.session_secret(request.scope) if principal.kind == "session" else None
    if secret is not None:
        # The dashboard sends it back in X-CSRF-Token with every change it makes.
        answer["csrf_token"] = csrf_token(secret)
    return _ok(answer)


@router.get("/tokens", summary="API tokens (never their secrets)")
async def list_tokens(request: Request) -> Any:
    return _ok([t.public() for t in await _run(_store(request).tokens)])


@router.post("/tokens", status_code=201, summary="Create an API token; its secret is shown once")
async def create_token(request: Request, body: NewToken) -> Any:
    record, secret = await _run(
        _store(request).add_token,
        body.name,
        body.role,
        audit=(request, Action.TOKEN_ADD, body.name),
    )
    return _ok({**record.public(), "secret": secret}, 201)


@router.delete("/tokens/{token_id}", summary="Revoke an API token")
async def revoke_token(request: Request, token_id: str) -> Any:
    await _run(
        _store(request).revoke_token, token_id, audit=(request, Action.TOKEN_REVOKE, token_id)
    )
    return _ok({"id": token_id, "revoked": True})


@router.get("/agents", summary="Registered agents (never their secrets)")
async def list_agents(request: Request) -> Any:
    return _ok([a.public() for a in await _run(_store(request).agents)])


@router.post("/agents", status_code=201, summary="Register an agent; its secret is shown once")
async def create_agent(request: Request, body: NewAgent) -> Any:
    record, secret = await _run(
        _store(request).add_agent,
        body.host,
        body.agent_id,
        audit=(request, Action.AGENT_ADD, body.host),
    )
    return _ok({**record.public(), "secret": secret}, 201)


@router.post("/agents/{agent_ref}/rotate", summary="A new secret; the old one stays valid a while")
async def rotate_agent(request: Request, agent_ref: str) -> Any:
    grace = request.app.state.settings.auth.rotation_grace_s
    record, secret = await _run(
        _store(request).rotate_agent,
        agent_ref,
        grace,
        audit=(request, Action.AGENT_ROTATE, agent_ref),
    )
    return _ok({**record.public(), "secret": secret})


@router.post("/agents/{agent_ref}/unpin", summary="Let the next frame pin the agent id again")
async def unpin_agent(request: Request, agent_ref: str) -> Any:
    unpinned = await _run(
        _store(request).unpin, agent_ref, audit=(request, Action.AGENT_UNPIN, agent_ref)
    )
    return _ok(unpinned.public())


@router.delete("/agents/{agent_ref}", summary="Revoke an agent's credential")
async def revoke_agent(request: Request, agent_ref: str) -> Any:
    await _run(
        _store(request).revoke_agent, agent_ref, audit=(request, Action.AGENT_REVOKE, agent_ref)
    )
    return _ok({"id": agent_ref, "revoked": True})
