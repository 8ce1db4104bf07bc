"""Alerts, rules, silences, notifiers and SLOs.

``/api/v1/rules`` and ``/api/v1/alerts`` answer in the Prometheus HTTP API's format, so
Grafana and other Prometheus clients can read them. Silences follow Alertmanager's fields
(``matchers`` with ``name``/``value``/``isRegex``/``isEqual``, ``startsAt``, ``endsAt``,
``createdBy``, ``comment``); times are RFC 3339 or Unix seconds.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from hostvitals.collector.access.audit import Action, AuditLog, Result
from hostvitals.collector.access.roles import SCOPE_KEY, Principal
from hostvitals.collector.alerts.burndown import burn_down
from hostvitals.collector.alerts.engine import AlertEngine
from hostvitals.collector.alerts.model import Alert, Rule
from hostvitals.collector.alerts.notifiers.base import rfc3339
from hostvitals.collector.alerts.silences import Matcher, Silence, SilenceError
from hostvitals.collector.api.forward import on_leader
from hostvitals.collector.config.alerts import NotifierSettings
from hostvitals.collector.errors import ApiError
from hostvitals.shared.masking import mask, redact_url

# Replicas forward the alerting API to the one that evaluates alerts (collector/live/cluster.py).
router = APIRouter(prefix="/api/v1", tags=["alerts"], dependencies=[Depends(on_leader)])


def _engine(request: Request) -> AlertEngine:
    engine: AlertEngine | None = getattr(request.app.state, "alerts", None)
    if engine is None:
        raise ApiError(503, "unavailable", "alerting is not running")
    return engine


async def _audit(
    request: Request, action: Action, target: str, result: Result, detail: dict[str, Any]
) -> None:
    log: AuditLog | None = getattr(request.app.state, "audit", None)
    if log is not None:
        await asyncio.to_thread(
            log.record_request, request.scope, action, target=target, result=result, detail=detail
        )


def _success(data: Any, status: int = 200) -> JSONResponse:
    return JSONResponse({"status": "success", "data": data}, status_code=status)


def _value(value: float) -> str:
    return f"{value:e}"


def _alert_json(alert: Alert, muted: dict[str, str]) -> dict[str, Any]:
    return {
        "labels": alert.labels,
        "annotations": alert.annotations,
        "state": alert.state,
        "activeAt": rfc3339(alert.active_at),
        "value": _value(alert.value),
        "firedAt": rfc3339(alert.fired_at) if alert.fired_at else None,
        "muted": muted.get(alert.fingerprint),
        "fingerprint": alert.fingerprint,
    }


def _rule_json(engine: AlertEngine, rule: Rule, muted: dict[str, str]) -> dict[str, Any]:
    alerts = [a for a in engine.alerts[rule.id].values() if a.state != "resolved"]
    status = engine.status[rule.id]
    state = "inactive"
    if any(a.state == "firing" for a in alerts):
        state = "firing"
    elif alerts:
        state = "pending"
    return {
        "state": state,
        "name": rule.name,
        "query": rule.condition(),
        "duration": rule.for_s,
        "keepFiringFor": rule.keep_firing_for_s,
        "labels": {**rule.labels, "severity": rule.severity.value},
        "annotations": dict(rule.annotations),
        "alerts": [_alert_json(a, muted) for a in alerts],
        "health": status.health,
        "lastError": status.last_error,
        "evaluationTime": status.evaluation_time,
        "lastEvaluation": rfc3339(status.last_evaluation),
        "type": "alerting",
        "id": rule.id,
        "kind": rule.kind,
        "threshold": rule.threshold,
        "clearThreshold": rule.clear_threshold,
    }


@router.get("/rules", summary="Alerting rules with their state (Prometheus format)")
async def rules(request: Request, type: str | None = None) -> JSONResponse:
    engine = _engine(request)
    if type is not None and type not in ("alert", "record"):
        raise ApiError(400, "bad_data", f"type must be 'alert' or 'record', not {type!r}")
    muted = engine.outbound.dispatcher.muted(engine.all_alerts(), time.time())
    groups = []
    if type != "record":
        for group in engine.groups:
            evaluated, took = engine.group_evaluated.get(group.name, (None, 0.0))
            groups.append(
                {
                    "name": group.name,
                    "file": "hostvitals",
                    "rules": [_rule_json(engine, r, muted) for r in group.rules],
                    "interval": engine.settings.evaluation_interval_s,
                    "limit": 0,
                    "evaluationTime": took,
                    "lastEvaluation": rfc3339(evaluated),
                }
            )
    return _success({"groups": groups})


@router.get("/alerts", summary="Pending and firing alerts (Prometheus format)")
async def alerts(request: Request) -> JSONResponse:
    engine = _engine(request)
    current = [a for a in engine.all_alerts() if a.state != "resolved"]
    muted = engine.outbound.dispatcher.muted(current, time.time())
    current.sort(key=lambda a: (a.labels.get("alertname", ""), sorted(a.labels.items())))
    return _success({"alerts": [_alert_json(a, muted) for a in current]})


# -- silences ----------------------------------------------------------------------------------


class MatcherIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    name: str
    value: str
    is_regex: bool = Field(False, alias="isRegex")
    is_equal: bool = Field(True, alias="isEqual")


class SilenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    matchers: list[MatcherIn]
    starts_at: datetime | float | None = Field(None, alias="startsAt")
    ends_at: datetime | float | None = Field(None, alias="endsAt")
    duration_s: Annotated[float, Field(gt=0)] | None = Field(None, alias="durationSeconds")
    created_by: str | None = Field(None, alias="createdBy")
    """Ignored for an authenticated caller: a silence is created by the credential's name."""
    comment: str


def _seconds(value: datetime | float | None, default: float) -> float:
    if value is None:
        return default
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ApiError(400, "bad_data", f"time {value.isoformat()} has no time zone")
        return value.timestamp()
    return float(value)


def _silence_json(silence: Silence, now: float) -> dict[str, Any]:
    doc = silence.to_json()
    doc["startsAt"] = rfc3339(silence.starts_at)
    doc["endsAt"] = rfc3339(silence.ends_at)
    doc["updatedAt"] = rfc3339(silence.updated_at)
    doc["status"] = {"state": silence.state(now)}
    return doc


def _created_by(request: Request, body: SilenceIn) -> str:
    """Who creates a silence: the authenticated credential's name; in the open mode (no
    credential configured) what the request says."""
    principal: Principal | None = request.scope.get(SCOPE_KEY)
    if principal is not None and principal.kind != "anonymous":
        return principal.name or principal.id
    return body.created_by or ""


@router.post("/silences", summary="Create a silence", status_code=201)
async def create_silence(request: Request, body: SilenceIn) -> JSONResponse:
    engine = _engine(request)
    now = time.time()
    starts = _seconds(body.starts_at, now)
    if body.ends_at is not None and body.duration_s is not None:
        raise ApiError(400, "bad_data", "give endsAt or durationSeconds, not both")
    if body.ends_at is None and body.duration_s is None:
        raise ApiError(400, "bad_data", "give endsAt or durationSeconds")
    ends = (
        _seconds(body.ends_at, 0.0) if body.ends_at is not None else starts + (body.duration_s or 0)
    )
    try:
        matchers = [Matcher.create(m.name, m.value, m.is_regex, m.is_equal) for m in body.matchers]
        silence = engine.silences.add(
            matchers, starts, ends, _created_by(request, body), body.comment, now
        )
    except SilenceError as exc:
        request.app.state.metrics.silences_refused.labels(exc.reason).inc()
        await _audit(request, Action.SILENCE_CREATE, "", Result.FAILED, {"error": str(exc)})
        raise ApiError(400, "bad_data", str(exc)) from None
    detail = {
        "matchers": [m.model_dump(by_alias=True) for m in body.matchers],
        "startsAt": rfc3339(starts),
        "endsAt": rfc3339(ends),
        "createdBy": silence.created_by,
        "comment": body.comment,
    }
    await _audit(request, Action.SILENCE_CREATE, silence.id, Result.OK, detail)
    return _success({"silenceID": silence.id, "silence": _silence_json(silence, now)}, 201)


@router.get("/silences", summary="Silences, active, pending and recently expired")
async def list_silences(request: Request) -> JSONResponse:
    engine = _engine(request)
    now = time.time()
    return _success([_silence_json(s, now) for s in engine.silences.all()])


@router.get("/silences/{silence_id}", summary="One silence")
async def get_silence(request: Request, silence_id: str) -> JSONResponse:
    engine = _engine(request)
    silence = engine.silences.get(silence_id)
    if silence is None:
        raise ApiError(404, "not_found", f"no silence {silence_id!r}")
    return _success(_silence_json(silence, time.time()))


@router.delete("/silences/{silence_id}", summary="Expire a silence now")
async def expire_silence(request: Request, silence_id: str) -> JSONResponse:
    engine = _engine(request)
    now = time.time()
    silence = engine.silences.expire(silence_id, now)
    if silence is None:
        await _audit(request, Action.SILENCE_EXPIRE, silence_id, Result.FAILED, {"error": "none"})
        raise ApiError(404, "not_found", f"no silence {silence_id!r}")
    await _audit(request, Action.SILENCE_EXPIRE, silence_id, Result.OK, {})
    return _success(_silence_json(silence, now))


# -- notifiers and SLOs ----------------------------------------------------------------------


def _destination(settings: NotifierSettings) -> str:
    """Where a notifier sends, without what lets anyone else send there: a URL's path and
    query (a webhook's key), a password, the recipients."""
    if settings.url is not None:
        return redact_url(settings.url)
    scheme = "smtps" if settings.smtp_tls == "tls" else "smtp"
    return f"{scheme}://{settings.smtp_host}:{settings.smtp_port}"


@router.get("/notifiers", summary="Notifiers with their delivery counts and last error")
async def notifiers(request: Request) -> JSONResponse:
    engine = _engine(request)
    out = []
    for worker in engine.outbound.workers.values():
        s = worker.status
        out.append(
            {
                "name": s.name,
                "type": s.kind,
                "destination": _destination(worker.notifier.settings),
                "sent": s.sent,
                "failed": s.failed,
                "dropped": s.dropped,
                "failedAttempts": s.failed_attempts,
                "queued": s.queued,
                "lastSuccess": rfc3339(s.last_success_at) if s.last_success_at else None,
                "lastFailure": rfc3339(s.last_failure_at) if s.last_failure_at else None,
                "lastError": None if s.last_error is None else mask(s.last_error),
            }
        )
    return _success(out)


def _slo_doc(engine: AlertEngine, name: str) -> dict[str, Any]:
    objective = next((o for o in engine.objectives if o.name == name), None)
    if objective is None:
        raise ApiError(404, "not_found", f"no SLO named {name!r}")
    report = engine.slo_reports.get(name)
    if report is None:
        return {
            "name": name,
            "description": objective.description,
            "target": objective.target,
            "evaluated_at": None,
            "healthy": None,
        }
    return report


@router.get("/slos", summary="Every SLO with its error budget and burn rates")
async def slos(request: Request) -> JSONResponse:
    engine = _engine(request)
    return _success([_slo_doc(engine, o.name) for o in engine.objectives])


@router.get("/slos/{name}", summary="One SLO with its error budget and burn rates")
async def one_slo(request: Request, name: str) -> Response:
    engine = _engine(request)
    return _success(_slo_doc(engine, name))


@router.get("/slos/{name}/burndown", summary="Remaining error budget over the SLO's window")
async def slo_burndown(request: Request, name: str, points: str = "300") -> Response:
    """The share of the window's error budget left at each of up to ``points`` (2-2000)
    steps across the window, per indicator and for the SLO (its worst indicator)."""
    engine = _engine(request)
    objective = next((o for o in engine.objectives if o.name == name), None)
    if objective is None:
        raise ApiError(404, "not_found", f"no SLO named {name!r}")
    try:
        count = int(points)
    except ValueError:
        count = 0
    if not 2 <= count <= 2000:
        raise ApiError(400, "bad_data", f"points must be a whole number from 2 to 2000: {points!r}")
    step_s = engine.slo_settings.threshold_step_s
    doc = await asyncio.to_thread(
        burn_down, request.app.state.reader, objective, time.time(), count, step_s
    )
    return _success(doc)
