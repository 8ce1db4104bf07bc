"""``GET /api/v1/audit`` (admin): the audit log's records, newest first, with the result of
checking its hash chain."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from hostvitals.collector.access.audit import AuditLog
from hostvitals.collector.api.responses import json_response
from hostvitals.collector.errors import ApiError
from hostvitals.collector.query.timeparse import TimeRangeError, parse_time

router = APIRouter(prefix="/api/v1", tags=["access"])


def _since(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return parse_time(value, "since")
    except TimeRangeError as exc:
        raise ApiError(400, "bad_data", str(exc)) from None


@router.get("/audit", summary="Audit records, newest first, and whether the hash chain holds")
async def audit_records(
    request: Request,
    since: Annotated[str | None, Query(description="Unix seconds or RFC 3339")] = None,
    action: Annotated[str | None, Query(max_length=256, description="e.g. token.add")] = None,
    subject: Annotated[str | None, Query(max_length=256, description="e.g. cli:root")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 200,
) -> Any:
    log: AuditLog = request.app.state.audit
    start = _since(since)

    def read() -> tuple[list[dict[str, Any]], dict[str, Any]]:
        records = log.read(since=start, action=action, subject=subject, limit=limit)
        return records, log.verify().public()

    records, chain = await asyncio.to_thread(read)
    return json_response({"status": "success", "data": {"chain": chain, "records": records}})
