"""Configuration of alerting (``alerts:``) and SLOs (``slos:``), validated at start."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Final, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hostvitals.collector.config.vocabulary import Op, Severity, check

_NAME: Final = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_SLO_NAME: Final = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$")
_RESERVED_LABELS: Final = frozenset({"alertname", "severity", "__name__"})
WINDOW_PLACEHOLDER: Final = "$window"
DAY: Final = 86_400

Seconds = Annotated[float, Field(ge=0)]
Positive = Annotated[float, Field(gt=0)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_labels(value: dict[str, str]) -> dict[str, str]:
    for name, text in value.items():
        if not _NAME.match(name) or name.startswith("__"):
            raise ValueError(f"{name!r} is not a valid label name")
        if name in _RESERVED_LABELS:
            raise ValueError(f"label {name!r} is set by the rule itself")
        check(text)
    return value


def _check_annotations(value: dict[str, str]) -> dict[str, str]:
    for name, text in value.items():
        if not _NAME.match(name):
            raise ValueError(f"{name!r} is not a valid annotation name")
        check(text)
    return value


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http:// or https:// URL with a host")
    return value


class RuleSettings(_Section):
    """A user rule. With ``op`` and ``threshold`` it is a threshold rule on ``expr``'s value;
    without, ``expr`` is a PromQL condition and every series it returns is an alert."""

    name: str
    expr: Annotated[str, Field(min_length=1)]
    op: Op | None = None
    threshold: float | None = None
    clear_threshold: float | None = None
    for_s: Seconds = 0.0
    keep_firing_for_s: Seconds = 0.0
    severity: Severity = Severity.MEDIUM
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("must be a valid alert name ([a-zA-Z_][a-zA-Z0-9_]*)")
        return value

    @field_validator("labels")
    @classmethod
    def _valid_labels(cls, value: dict[str, str]) -> dict[str, str]:
        return _check_labels(value)

    @field_validator("annotations")
    @classmethod
    def _valid_annotations(cls, value: dict[str, str]) -> dict[str, str]:
        return _check_annotations(value)

    @model_validator(mode="after")
    def _threshold_pair(self) -> RuleSettings:
        if (self.op is None) != (self.threshold is None):
            raise ValueError("op and threshold go together: set both or neither")
        if self.clear_threshold is not None:
            if self.threshold is None or self.op is None:
                raise ValueError("clear_threshold needs op and threshold")
            above = self.op in (">", ">=")
            if (above and self.clear_threshold > self.threshold) or (
                not above and self.clear_threshold < self.threshold
            ):
                side = "at or below" if above else "at or above"
                raise ValueError(
                    f"clear_threshold ({self.clear_threshold:g}) must be {side} "
                    f"the threshold ({self.threshold:g})"
                )
        return self


class DefaultRulesSettings(_Section):
    """The built-in host rules; a user rule with the same name replaces one."""

    enabled: bool = True
    disabled: list[str] = Field(default_factory=list)
    cpu_percent: Annotated[float, Field(gt=0, le=100)] = 80.0
    cpu_for_s: Seconds = 300.0
    memory_percent: Annotated[float, Field(gt=0, le=100)] = 90.0
    memory_for_s: Seconds = 300.0
    disk_percent: Annotated[float, Field(gt=0, le=100)] = 85.0
    disk_for_s: Seconds = 300.0
    clear_margin_percent: Annotated[float, Field(ge=0, le=50)] = 5.0
    rate_window_s: Annotated[int, Field(ge=1)] = 60
    ignored_fstypes: str = (
        "tmpfs|devtmpfs|ramfs|overlay|squashfs|nsfs|proc|sysfs|cgroup2?|autofs|fuse\\..*|iso9660"
    )
    host_down_after_flushes: Annotated[float, Field(gt=0)] = 10.0
    host_down_export_flush_period_s: Positive = 10.0
    agent_unhealthy_for_s: Seconds = 300.0

    @field_validator("ignored_fstypes")
    @classmethod
    def _regex(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        return value


class NotifierSettings(_Section):
    """One notification channel."""

    name: Annotated[str, Field(min_length=1, max_length=64)]
    type: Literal["slack", "webhook", "email"]
    url: str | None = None
    webhook_format: Literal["alertmanager_webhook", "alertmanager_api"] = "alertmanager_webhook"
    smtp_host: str | None = None
    smtp_port: Annotated[int, Field(ge=1, le=65535)] = 587
    smtp_tls: Literal["starttls", "tls", "none"] = "starttls"
    smtp_ca_file: Path | None = None
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_password_file: Path | None = None
    email_from: str | None = None
    email_to: list[str] = Field(default_factory=list)
    severities: list[Severity] = Field(default_factory=lambda: list(Severity))
    send_resolved: bool = True
    timeout_s: Positive = 10.0

    @model_validator(mode="after")
    def _per_type(self) -> NotifierSettings:
        if self.type in ("slack", "webhook"):
            if self.url is None:
                raise ValueError(f"a {self.type} notifier needs url")
            _http_url(self.url)
        else:
            if not self.smtp_host:
                raise ValueError("an email notifier needs smtp_host")
            if not self.email_from or not self.email_to:
                raise ValueError("an email notifier needs email_from and email_to")
            if self.smtp_password is not None and self.smtp_password_file is not None:
                raise ValueError("set smtp_password or smtp_password_file, not both")
            has_password = self.smtp_password is not None or self.smtp_password_file is not None
            if has_password and not self.smtp_username:
                raise ValueError("an SMTP password needs smtp_username")
        if not self.severities:
            raise ValueError("severities must name at least one severity")
        return self


class AlertsSettings(_Section):
    enabled: bool = True
    evaluation_interval_s: Positive = 15.0
    resolved_retention_s: Seconds = 900.0
    group_by: list[str] = Field(default_factory=lambda: ["alertname", "host"])
    group_wait_s: Seconds = 10.0
    group_interval_s: Seconds = 60.0
    repeat_interval_s: Positive = 14_400.0
    inhibit_equal: list[str] = Field(default_factory=lambda: ["alertname", "host", "slo"])
    max_silences: Annotated[int, Field(ge=1)] = 1000
    delivery_attempts: Annotated[int, Field(ge=1, le=20)] = 5
    delivery_backoff_s: Positive = 1.0
    delivery_backoff_max_s: Positive = 30.0
    delivery_queue_size: Annotated[int, Field(ge=1)] = 256
    external_url: str = "http://127.0.0.1:8000"
    default_rules: DefaultRulesSettings = Field(default_factory=DefaultRulesSettings)
    rules: list[RuleSettings] = Field(default_factory=list)
    notifiers: list[NotifierSettings] = Field(default_factory=list)

    @field_validator("external_url")
    @classmethod
    def _external(cls, value: str) -> str:
        return _http_url(value).rstrip("/")

    @model_validator(mode="after")
    def _unique_notifiers(self) -> AlertsSettings:
        names = [n.name for n in self.notifiers]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"notifier names must be unique: {', '.join(dupes)}")
        for label in (*self.group_by, *self.inhibit_equal):
            if not _NAME.match(label):
                raise ValueError(f"{label!r} is not a valid label name")
        return self


class IndicatorSettings(_Section):
    """An SLI: ``good``/``total`` PromQL with ``$window`` (for example
    ``sum(rate(http_ok_total[$window]))``), or ``expr`` with ``op`` and ``threshold``: the share
    of time the condition holds."""

    name: Annotated[str, Field(min_length=1, max_length=64)]
    good: str | None = None
    total: str | None = None
    expr: str | None = None
    op: Op | None = None
    threshold: float | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> IndicatorSettings:
        ratio = self.good is not None or self.total is not None
        threshold = self.expr is not None or self.op is not None or self.threshold is not None
        if ratio == threshold:
            raise ValueError("an indicator is either good and total, or expr, op and threshold")
        if ratio:
            for key, text in (("good", self.good), ("total", self.total)):
                if not text or WINDOW_PLACEHOLDER not in text:
                    raise ValueError(f"{key} must be PromQL with a {WINDOW_PLACEHOLDER} range")
        elif self.expr is None or self.op is None or self.threshold is None:
            raise ValueError("a threshold indicator needs expr, op and threshold")
        return self


class SloSettings(_Section):
    name: str
    description: str = ""
    target: Annotated[float, Field(gt=0, lt=1)]
    window_s: Annotated[int, Field(ge=3600)] = 30 * DAY
    indicators: Annotated[list[IndicatorSettings], Field(min_length=1)]
    labels: dict[str, str] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not _SLO_NAME.match(value):
            raise ValueError("must be 1-63 characters: letters, digits, '.', '_' or '-'")
        return value

    @field_validator("labels")
    @classmethod
    def _valid_labels(cls, value: dict[str, str]) -> dict[str, str]:
        return _check_labels(value)

    @model_validator(mode="after")
    def _unique_indicators(self) -> SloSettings:
        names = [i.name for i in self.indicators]
        if len(set(names)) != len(names):
            raise ValueError("indicator names must be unique within an SLO")
        return self


class SlosSettings(_Section):
    builtin: bool = True
    evaluation_interval_s: Positive = 60.0
    budget_alert_ratio: Annotated[float, Field(gt=0, le=1)] = 0.5
    threshold_step_s: Annotated[int, Field(ge=1)] = 60
    self_metrics_interval_s: Positive = 15.0
    ingest_target: Annotated[float, Field(gt=0, lt=1)] = 0.999
    freshness_target: Annotated[float, Field(gt=0, lt=1)] = 0.99
    freshness_threshold_s: Positive = 2.0
    window_s: Annotated[int, Field(ge=3600)] = 30 * DAY
    objectives: list[SloSettings] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> SlosSettings:
        names = [o.name for o in self.objectives]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"SLO names must be unique: {', '.join(dupes)}")
        return self
