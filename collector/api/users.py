"""Users (admin): list, add, set a password or a role, remove.

The same changes as ``hostvitals-collector users ...``; both apply at once, without a
restart. A password change or a removal ends the user's sessions. Passwords are never
answered, logged, audited or kept: only their argon2id hashes are. Each change, done or
refused, goes to the audit log.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from hostvitals.collector.access.audit import Action, AuditLog, Result
from hostvitals.collector.access.passwords import PASSWORD_MAX, PASSWORD_MIN
from hostvitals.collector.access.users import UserError, UserStore
from hostvitals.collector.api.responses import json_response
from hostvitals.collector.errors import ApiError

router = APIRouter(prefix="/api/v1", tags=["access"])


class NewUser(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)
    name: str = Field(min_length=1, max_length=64, description="the login name")
    role: str = Field(description="viewer, operator or admin")
    password: str = Field(min_length=PASSWORD_MIN, max_length=PASSWORD_MAX)


class NewPassword(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)
    password: str = Field(min_length=PASSWORD_MIN, max_length=PASSWORD_MAX)


class NewRole(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: str = Field(description="viewer, operator or admin")


def _users(request: Request) -> UserStore:
    store: UserStore = request.app.state.users
    return store


def _ok(data: Any, status: int = 200) -> Any:
    response = json_response({"status": "success", "data": data})
    response.status_code = status
    return response


async def _run(
    call: Any, *args: Any, audit: tuple[Request, Action, str, dict[str, Any]] | None = None
) -> Any:
    """Run a store call in a thread; with ``audit`` (request, action, user name, what
    changed) record it, refused or done."""
    try:
        done = await asyncio.to_thread(call, *args)
    except UserError as exc:
        if audit is not None:
            await _record(*audit[:3], Result.FAILED, {**audit[3], "error": str(exc)})
        status = 404 if str(exc).startswith("no ") else 400
        raise ApiError(status, "not_found" if status == 404 else "bad_data", str(exc)) from None
    if audit is not None:
        await _record(*audit[:3], Result.OK, audit[3])
    return done


async def _record(
    request: Request, action: Action, name: str, result: Result, detail: dict[str, Any]
) -> None:
    log: AuditLog = request.app.state.audit
    await asyncio.to_thread(
        log.record_request, request.scope, action, target=name, result=result, detail=detail
    )


@router.get("/users", summary="Users (never their passwords)")
async def list_users(request: Request) -> Any:
    return _ok([u.public() for u in await _run(_users(request).users)])


@router.post("/users", status_code=201, summary="Add a user")
async def add_user(request: Request, body: NewUser) -> Any:
    record = await _run(
        _users(request).add, body.name, body.role, body.password,
        audit=(request, Action.USER_ADD, body.name, {"role": body.role}),
    )  # fmt: skip
    return _ok(record.public(), 201)


@router.post("/users/{name}/password", summary="Set a user's password; ends its sessions")
async def set_password(request: Request, name: str, body: NewPassword) -> Any:
    audit = (request, Action.USER_CHANGE, name, {"changed": "password"})
    return _ok(
        (await _run(_users(request).set_password, name, body.password, audit=audit)).public()
    )


@router.post("/users/{name}/role", summary="Set a user's role (open sessions included)")
async def set_role(request: Request, name: str, body: NewRole) -> Any:
    audit = (request, Action.USER_CHANGE, name, {"changed": "role", "role": body.role})
    return _ok((await _run(_users(request).set_role, name, body.role, audit=audit)).public())


@router.delete("/users/{name}", summary="Remove a user; ends its sessions")
async def remove_user(request: Request, name: str) -> Any:
    await _run(_users(request).remove, name, audit=(request, Action.USER_REMOVE, name, {}))
    return _ok({"name": name, "removed": True})
