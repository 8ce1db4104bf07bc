"""``POST /api/v1/login`` and ``POST /api/v1/logout``: dashboard sessions.

A login takes a user name and password as a form (``username``, ``password``) or as JSON
(``{"username": ..., "password": ...}``). A right one sets the session cookie
(:mod:`hostvitals.collector.access.cookies`) and answers the user, its role and the
session's CSRF token (JSON), or redirects to the fleet page (a form). A wrong one answers
401; too many wrong ones 429 with ``Retry-After``. A login posted from another origin is
refused (403), so a page elsewhere cannot log a browser in as someone else.

The audit log gets every login, right or wrong, and every logout; a throttled login once a
minute per address and user name (a guesser would otherwise fill it).
"""

from __future__ import annotations

import asyncio
from typing import Any, Final
from urllib.parse import parse_qs

import orjson
from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from hostvitals.collector.access import cookies
from hostvitals.collector.access.audit import Action, AuditLog, Result
from hostvitals.collector.access.login import Logins, Throttled
from hostvitals.collector.access.roles import SCOPE_KEY, Principal
from hostvitals.collector.access.users import UserStore, csrf_token
from hostvitals.collector.api.responses import json_response
from hostvitals.collector.errors import ApiError, error_response

router = APIRouter(prefix="/api/v1", tags=["access"])

_BODY_MAX: Final = 16 * 1024
_FIELD_MAX: Final = 2048


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


async def _fields(request: Request) -> tuple[str, str, bool]:
    """(user name, password, whether it came as a form). Raises ApiError 400."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > _BODY_MAX:
            raise ApiError(413, "bad_data", "a login body is at most 16 KiB")
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    values: dict[str, Any]
    form = kind == "application/x-www-form-urlencoded"
    if form:
        try:
            parsed = parse_qs(body.decode("utf-8"), max_num_fields=8)
        except (UnicodeDecodeError, ValueError):
            raise ApiError(400, "bad_data", "the login form cannot be read") from None
        values = {k: v[0] for k, v in parsed.items() if v}
    elif kind == "application/json":
        try:
            values = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise ApiError(400, "bad_data", "the login body is not JSON") from None
        if not isinstance(values, dict):
            raise ApiError(400, "bad_data", "the login body is a JSON object")
    else:
        raise ApiError(415, "unsupported_media_type", "send a form or JSON: username, password")
    name, password = values.get("username"), values.get("password")
    if not isinstance(name, str) or not isinstance(password, str) or not name or not password:
        raise ApiError(400, "bad_data", "a login needs a username and a password")
    if len(name) > _FIELD_MAX or len(password) > _FIELD_MAX:
        raise ApiError(400, "bad_data", "the username or password is too long")
    return name, password, form


_LOGIN_ANSWERS: Final[dict[int | str, dict[str, Any]]] = {
    401: {"description": "wrong user name or password"},
    403: {"description": "posted from another origin"},
    429: {"description": "too many failures: see Retry-After"},
}


@router.post(
    "/login",
    summary="Log in with a user name and password; sets the session cookie",
    responses=_LOGIN_ANSWERS,
)
async def login(request: Request) -> Response:
    logins: Logins = request.app.state.logins
    if not cookies.same_origin(request.scope):
        logins.refused("cross_origin")
        raise ApiError(403, "forbidden", "a login from another origin is refused")
    try:
        name, password, form = await _fields(request)
    except ApiError:
        logins.refused("malformed")
        raise
    address = request.client.host if request.client else "unknown"
    audit: AuditLog = request.app.state.audit
    try:
        done = await asyncio.to_thread(logins.attempt, address, name, password)
    except Throttled as exc:
        if audit.first_in_a_while("login-throttled", address, name):
            await asyncio.to_thread(audit.login_failed, request.scope, name, "rate_limited")
        return error_response(
            429, "too_many_requests", str(exc), {"Retry-After": str(exc.retry_after_s)}
        )
    if done is None:
        await asyncio.to_thread(audit.login_failed, request.scope, name, "bad_credentials")
        return error_response(401, "unauthorized", "wrong user name or password")
    user = Principal("session", done.user.role, done.user.id, done.user.name)
    await asyncio.to_thread(audit.login_succeeded, request.scope, user)
    users: UserStore = request.app.state.users
    cookie = cookies.set_cookie_header(
        done.session, secure=_secure(request), max_age_s=int(users.absolute_s)
    )
    response: Response
    if form:
        response = RedirectResponse("/", status_code=303)
    else:
        response = json_response(
            {
                "status": "success",
                "data": {
                    "name": done.user.name,
                    "role": str(done.user.role),
                    "csrf_token": csrf_token(done.session),
                },
            }
        )
    response.headers.append("set-cookie", cookie)
    response.headers["cache-control"] = "no-store"
    return response


@router.post("/logout", summary="End the caller's session and clear its cookie")
async def logout(request: Request) -> Response:
    secret = cookies.session_secret(request.scope)
    closed = secret is not None and request.scope[SCOPE_KEY].kind == "session"
    if secret is not None and closed:
        users: UserStore = request.app.state.users
        await asyncio.to_thread(users.close_session, secret)
        audit: AuditLog = request.app.state.audit
        await asyncio.to_thread(
            audit.record_request,
            request.scope,
            Action.LOGOUT,
            target=request.scope[SCOPE_KEY].name,
            result=Result.OK,
        )
    response = json_response({"status": "success", "data": {"logged_out": closed}})
    response.headers.append("set-cookie", cookies.clear_cookie_header(secure=_secure(request)))
    return response
