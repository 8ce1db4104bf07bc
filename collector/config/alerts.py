"""Configuration of alerting (``alerts:``): rules, the built-in rules' thresholds, notifiers,
grouping and delivery; validated at start."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Final, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from hostvitals.collector.config.section import Positive, Seconds, Section
from hostvitals.collector.config.vocabulary import Op, Severity, check

_NAME: Final = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_RESERVED_LABELS: Final = frozenset({"alertname", "severity", "__name__"})


def check_labels(value: dict[str, str]) -> dict[str, str]:
    """Label names and template values a rule or an SLO may add to its alerts."""
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


class RuleSettings(Section):
    """A user rule. With ``op`` and ``threshold`` it is a threshold rule on ``expr``'s value;
    without, ``expr`` is a PromQL condition and every series it returns is an alert."""

    name: str
    """The alert's name (`alertname`): letters, digits and `_`, not starting with a digit."""
    expr: Annotated[str, Field(min_length=1)]
    """PromQL: the value compared with `threshold`, or without `op` a condition whose every
    series is an alert."""
    op: Op | None = None
    """Comparison with `threshold`; set both or neither."""
    threshold: float | None = None
    """The value `op` compares with."""
    clear_threshold: float | None = None
    """A firing alert clears only past this value (hysteresis); needs `op` and `threshold`."""
    for_s: Seconds = 0.0
    """Seconds the condition must hold before the alert fires."""
    keep_firing_for_s: Seconds = 0.0
    """Seconds the alert keeps firing after the condition stopped holding."""
    severity: Severity = Severity.MEDIUM
    """How urgent the alert is (see docs/alerts.md)."""
    labels: dict[str, str] = Field(default_factory=dict)
    """Labels added to the alert; values may use templates."""
    annotations: dict[str, str] = Field(default_factory=dict)
    """Annotations (`summary`, `description`...); values may use templates."""

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("must be a valid alert name ([a-zA-Z_][a-zA-Z0-9_]*)")
        return value

    @field_validator("labels")
    @classmethod
    def _valid_labels(cls, value: dict[str, str]) -> dict[str, str]:
        return check_labels(value)

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


class DefaultRulesSettings(Section):
    """The built-in host rules; a user rule with the same name replaces one."""

    enabled: bool = True
    """Evaluate the built-in host rules (HighCPU, HighMemory, DiskSpace, DiskFillingUp,
    SystemdUnitFailed, DiskUnhealthy, HighTemperature, MemoryPressure, IOPressure,
    FileDescriptorsExhausted, HostDown, AgentUnhealthy, CollectorCertificateExpiring)."""
    disabled: list[str] = Field(default_factory=list)
    """Names of built-in rules to leave out."""
    cpu_percent: Annotated[float, Field(gt=0, le=100)] = 80.0
    """HighCPU fires above this CPU use (percent)..."""
    cpu_for_s: Seconds = 300.0
    """...held for this many seconds."""
    memory_percent: Annotated[float, Field(gt=0, le=100)] = 90.0
    """HighMemory fires above this memory use (percent)..."""
    memory_for_s: Seconds = 300.0
    """...held for this many seconds."""
    disk_percent: Annotated[float, Field(gt=0, le=100)] = 85.0
    """DiskSpace fires above this file system use (percent)..."""
    disk_for_s: Seconds = 300.0
    """...held for this many seconds."""
    disk_fill_free_percent: Annotated[float, Field(gt=0, le=100)] = 40.0
    """DiskFillingUp watches file systems with less free space than this (percent) that,
    at the pace of the last 6 hours, fill within 24 hours..."""
    disk_fill_for_s: Seconds = 3600.0
    """...for this many seconds."""
    unit_failed_for_s: Seconds = 60.0
    """SystemdUnitFailed fires when a unit has been failed this long (seconds)."""
    disk_health_for_s: Seconds = 0.0
    """DiskUnhealthy fires when a disk's SMART check (the agent's optional SMART sampler) has
    said it is failing, or an NVMe drive has raised a critical warning, for this long
    (seconds). A drive's own verdict does not flap: by default the first reading fires."""
    temperature_margin_celsius: Annotated[float, Field(ge=0, le=50)] = 5.0
    """HighTemperature fires when a hwmon sensor is within this many degrees of the critical
    temperature its chip states..."""
    temperature_celsius: Annotated[float, Field(gt=0, le=200)] = 85.0
    """...or, for a sensor whose chip states none, hotter than this (degrees Celsius)..."""
    temperature_for_s: Seconds = 300.0
    """...for this many seconds."""
    memory_pressure_percent: Annotated[float, Field(gt=0, le=100)] = 10.0
    """MemoryPressure fires when all non-idle tasks stalled on memory more than this share
    (percent) of the last 5 minutes (PSI `full`)..."""
    io_pressure_percent: Annotated[float, Field(gt=0, le=100)] = 30.0
    """IOPressure fires when all non-idle tasks stalled on I/O more than this share (percent)
    of the last 5 minutes (PSI `full`)..."""
    pressure_for_s: Seconds = 600.0
    """...either held for this many seconds."""
    filefd_percent: Annotated[float, Field(gt=0, le=100)] = 90.0
    """FileDescriptorsExhausted fires when more than this share (percent) of the kernel's file
    handles (`fs.file-max`) are allocated..."""
    filefd_for_s: Seconds = 300.0
    """...for this many seconds."""
    clear_margin_percent: Annotated[float, Field(ge=0, le=50)] = 5.0
    """A firing threshold alert clears only this many points below its threshold (hysteresis)."""
    rate_window_s: Annotated[int, Field(ge=1)] = 60
    """Range (seconds) of the CPU rate."""
    ignored_fstypes: str = (
        "tmpfs|devtmpfs|ramfs|overlay|squashfs|nsfs|proc|sysfs|cgroup2?|autofs|fuse\\..*|iso9660"
    )
    """File systems that are not real disks (a regular expression on fstype)."""
    host_down_after_flushes: Annotated[float, Field(gt=0)] = 10.0
    """A host is down after this many flush periods without a frame."""
    host_down_export_flush_period_s: Positive = 10.0
    """The flush period (seconds) `rules export` assumes for its PromQL version of HostDown."""
    agent_unhealthy_for_s: Seconds = 300.0
    """Dropped samples or a growing spool for this long (seconds) make the agent unhealthy."""

    @field_validator("ignored_fstypes")
    @classmethod
    def _regex(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        return value


class NotifierSettings(Section):
    """One notification channel."""

    name: Annotated[str, Field(min_length=1, max_length=64)]
    """The notifier's name, unique."""
    type: Literal["slack", "webhook", "email"]
    """Where notifications go."""
    url: str | None = None
    """slack and webhook: the URL to post to."""
    webhook_format: Literal["alertmanager_webhook", "alertmanager_api"] = "alertmanager_webhook"
    """webhook: the body, as Alertmanager sends to webhooks or as its API takes alerts."""
    smtp_host: str | None = None
    """email: the SMTP server."""
    smtp_port: Annotated[int, Field(ge=1, le=65535)] = 587
    """email: the SMTP server's port."""
    smtp_tls: Literal["starttls", "tls", "none"] = "starttls"
    """email: how the connection is encrypted."""
    smtp_ca_file: Path | None = None
    """email: CA certificates to check the server with, instead of the system's."""
    smtp_username: str | None = None
    """email: the user to log in as; none: no login."""
    smtp_password: SecretStr | None = None
    """email: the password, or..."""
    smtp_password_file: Path | None = None
    """...a file holding it."""
    allow_plaintext_auth: bool = False
    """email: log in even with `smtp_tls: none`, sending the password unencrypted. Off, a
    notifier with `smtp_username` must use `starttls` or `tls`."""
    email_from: str | None = None
    """email: the sender address."""
    email_to: list[str] = Field(default_factory=list)
    """email: the recipients."""
    severities: list[Severity] = Field(default_factory=lambda: list(Severity))
    """Only alerts of these severities are sent here."""
    send_resolved: bool = True
    """Also notify when an alert resolves."""
    timeout_s: Positive = 10.0
    """Seconds one delivery may take."""

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
            if self.smtp_username and self.smtp_tls == "none" and not self.allow_plaintext_auth:
                raise ValueError(
                    "smtp_username with smtp_tls: none would send the password unencrypted: "
                    "use smtp_tls: starttls or tls, or set allow_plaintext_auth: true"
                )
        if not self.severities:
            raise ValueError("severities must name at least one severity")
        return self


class AlertsSettings(Section):
    enabled: bool = True
    """Evaluate alert rules inside the collector (see docs/alerts.md). The state (alerts, what
    was notified, silences) is kept in `state.dir`; with `state.dir` null it is lost on
    restart."""
    evaluation_interval_s: Positive = 15.0
    """Seconds between two evaluations of every rule."""
    resolved_retention_s: Seconds = 900.0
    """A resolved alert is kept this long (seconds) so its resolved notification can go out."""
    group_by: list[str] = Field(default_factory=lambda: ["alertname", "host"])
    """Alerts with the same values of these labels are notified together."""
    group_wait_s: Seconds = 10.0
    """Seconds a new group waits before its first notification."""
    group_interval_s: Seconds = 60.0
    """Seconds between notifications of a group's changes."""
    repeat_interval_s: Positive = 14_400.0
    """Seconds before an unchanged firing group is notified again."""
    inhibit_equal: list[str] = Field(default_factory=lambda: ["alertname", "host", "slo"])
    """A firing alert mutes less severe firing alerts that have the same values of these labels."""
    max_silences: Annotated[int, Field(ge=1)] = 1000
    """Most silences pending or active at once (expired ones do not count; they are kept for a
    day, at most as many as this)."""
    delivery_attempts: Annotated[int, Field(ge=1, le=20)] = 5
    """A failed delivery is tried this many times in all..."""
    delivery_backoff_s: Positive = 1.0
    """...waiting a random time up to this many seconds times 2^attempt in between..."""
    delivery_backoff_max_s: Positive = 30.0
    """...at most this many seconds."""
    delivery_queue_size: Annotated[int, Field(ge=1)] = 256
    """Notifications waiting per notifier; past it they are dropped (and counted)."""
    delivery_shutdown_grace_s: Seconds = 5.0
    """On a graceful stop, seconds a delivery in flight may take to finish; it is then recorded
    as sent, so the restarted collector does not send it again."""
    external_url: str = "http://127.0.0.1:8000"
    """Base URL of this collector as seen by whoever reads the notifications."""
    runbook_url: str = ""
    """Address of docs/runbook.md where your team reads it (e.g. your copy of the repository
    on its forge). Each shipped rule's `runbook_url` annotation is this plus `#` and the rule
    name in lower case, its section. Empty (the default) leaves the annotation out: the
    collector does not serve its docs."""
    default_rules: DefaultRulesSettings = Field(default_factory=DefaultRulesSettings)
    rules: list[RuleSettings] = Field(default_factory=list)
    """Your own rules; one with a built-in rule's name replaces it."""
    notifiers: list[NotifierSettings] = Field(default_factory=list)
    """Where notifications go."""

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
