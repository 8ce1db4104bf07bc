"""What a notifier sends: one notification per alert group."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from hostvitals.collector.config.alerts import NotifierSettings

ZERO_TIME = "0001-01-01T00:00:00Z"


class DeliveryError(Exception):
    """A delivery failed; ``retryable`` is False when trying again cannot help (a 4xx)."""

    def __init__(self, message: str, *, retryable: bool = True, reason: str = "error") -> None:
        super().__init__(message)
        self.retryable = retryable
        self.reason = reason


@dataclass(frozen=True, slots=True)
class AlertView:
    status: str  # firing | resolved
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    starts_at: float
    ends_at: float | None
    fingerprint: str
    value: float
    generator_url: str


@dataclass(frozen=True, slots=True)
class Notification:
    receiver: str
    group_key: str
    group_labels: Mapping[str, str]
    alerts: tuple[AlertView, ...]
    external_url: str

    @property
    def status(self) -> str:
        return "firing" if any(a.status == "firing" for a in self.alerts) else "resolved"

    def firing(self) -> list[AlertView]:
        return [a for a in self.alerts if a.status == "firing"]

    def resolved(self) -> list[AlertView]:
        return [a for a in self.alerts if a.status == "resolved"]

    def common(self, attr: str) -> dict[str, str]:
        maps = [dict(getattr(a, attr)) for a in self.alerts]
        if not maps:
            return {}
        first = maps[0]
        return {k: v for k, v in first.items() if all(m.get(k) == v for m in maps[1:])}

    def title(self) -> str:
        name = self.group_labels.get("alertname", "alerts")
        where = ", ".join(f"{k}={v}" for k, v in self.group_labels.items() if k != "alertname")
        counts = f"{len(self.firing())} firing" if self.firing() else "resolved"
        status = self.status.upper()
        return f"[{status}] {name}" + (f" ({where})" if where else "") + f": {counts}"


def rfc3339(ts: float | None) -> str:
    if ts is None:
        return ZERO_TIME
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def alert_json(alert: AlertView) -> dict[str, Any]:
    return {
        "status": alert.status,
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "startsAt": rfc3339(alert.starts_at),
        "endsAt": rfc3339(alert.ends_at),
        "generatorURL": alert.generator_url,
        "fingerprint": alert.fingerprint,
    }


def alertmanager_webhook(notification: Notification) -> dict[str, Any]:
    """The JSON body Alertmanager posts to its webhook receivers (version 4)."""
    return {
        "version": "4",
        "groupKey": notification.group_key,
        "truncatedAlerts": 0,
        "status": notification.status,
        "receiver": notification.receiver,
        "groupLabels": dict(notification.group_labels),
        "commonLabels": notification.common("labels"),
        "commonAnnotations": notification.common("annotations"),
        "externalURL": notification.external_url,
        "alerts": [alert_json(a) for a in notification.alerts],
    }


def alertmanager_api(notification: Notification) -> list[dict[str, Any]]:
    """The body of Alertmanager's ``POST /api/v2/alerts``: a list of postable alerts."""
    out = []
    for alert in notification.alerts:
        doc: dict[str, Any] = {
            "labels": dict(alert.labels),
            "annotations": dict(alert.annotations),
            "startsAt": rfc3339(alert.starts_at),
            "generatorURL": alert.generator_url,
        }
        if alert.ends_at is not None:
            doc["endsAt"] = rfc3339(alert.ends_at)
        out.append(doc)
    return out


def text_lines(notification: Notification) -> list[str]:
    lines = []
    for alert in notification.alerts:
        summary = alert.annotations.get("summary") or alert.labels.get("alertname", "")
        mark = "FIRING" if alert.status == "firing" else "RESOLVED"
        lines.append(f"{mark} [{alert.labels.get('severity', '')}] {summary}")
        description = alert.annotations.get("description")
        if description:
            lines.append(f"    {description}")
    return lines


class Notifier(Protocol):
    settings: NotifierSettings

    @property
    def name(self) -> str: ...

    async def send(self, notification: Notification) -> None:
        """Deliver once; raise DeliveryError when it did not arrive."""
        ...

    async def close(self) -> None: ...
