"""One JSON shape for every error the collector answers, Prometheus-like.

Every error body is ``{"status": "error", "errorType": "<short kind>", "error": "<message>"}``.
Handlers raise :class:`ApiError`; :func:`install_error_handlers` turns it, FastAPI's request
validation errors and Starlette's HTTP errors into that shape.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)

# Short kinds by HTTP status, used when a caller does not name one.
_KIND_BY_STATUS: Mapping[int, str] = {
    400: "bad_data",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_frame",
    500: "internal",
    502: "bad_gateway",
    503: "unavailable",
}


def kind_for_status(status: int) -> str:
    return _KIND_BY_STATUS.get(status, "internal" if status >= 500 else "bad_data")


class ApiError(Exception):
    """An error answer: HTTP status, short kind and a message saying what was wrong."""

    def __init__(
        self,
        status: int,
        error_type: str,
        message: str,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message
        self.headers = dict(headers or {})


class IngestRejected(ApiError):
    """An ingest answered with an error; ``reason`` labels the rejection counter."""

    def __init__(
        self,
        status: int,
        reason: str,
        message: str,
        *,
        error_type: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(status, error_type or kind_for_status(status), message, headers=headers)
        self.reason = reason


def error_body(error_type: str, message: str) -> dict[str, str]:
    return {"status": "error", "errorType": error_type, "error": message}


def error_response(
    status: int, error_type: str, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        error_body(error_type, message), status_code=status, headers=dict(headers or {})
    )


# Request fields whose value an error message never repeats.
_SECRET_FIELDS: Final = frozenset({"password", "secret", "token"})


def describe_validation_errors(errors: Sequence[Any]) -> str:
    """A message naming each bad request field, e.g. ``query parameter 'limit': ...``."""
    parts = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ())]
        where = {"query": "query parameter", "path": "path parameter", "header": "header"}.get(
            loc[0] if loc else "", "request field"
        )
        name = ".".join(loc[1:]) if len(loc) > 1 else (loc[0] if loc else "request")
        msg = err.get("msg", "invalid")
        text = f"{where} '{name}': {msg}"
        secret = any(part in _SECRET_FIELDS for part in loc)
        if "input" in err and err.get("type") != "missing" and not secret:
            text += f" (got {err['input']!r})"
        parts.append(text)
    return "; ".join(parts) or "invalid request"


async def _api_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.error_type, exc.message, exc.headers)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return error_response(400, "bad_data", describe_validation_errors(exc.errors()))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    if exc.status_code in (404, 405):
        message = f"{message}: {request.method} {request.url.path}"
    return error_response(exc.status_code, kind_for_status(exc.status_code), message, exc.headers)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal", f"internal error: {type(exc).__name__}")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
