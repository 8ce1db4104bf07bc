"""Notification channels: Slack, an Alertmanager-compatible webhook, and e-mail."""

from __future__ import annotations

from hostvitals.collector.alerts.notifiers.base import DeliveryError, Notification, Notifier
from hostvitals.collector.alerts.notifiers.email import EmailNotifier
from hostvitals.collector.alerts.notifiers.http import SlackNotifier, WebhookNotifier
from hostvitals.collector.config.alerts import NotifierSettings

__all__ = ["DeliveryError", "Notification", "Notifier", "build_notifier"]


def build_notifier(settings: NotifierSettings) -> Notifier:
    if settings.type == "slack":
        return SlackNotifier(settings)
    if settings.type == "webhook":
        return WebhookNotifier(settings)
    return EmailNotifier(settings)
