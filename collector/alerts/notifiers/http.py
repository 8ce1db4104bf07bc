"""Notifiers that POST JSON: a Slack incoming webhook and a generic webhook."""

from __future__ import annotations

from typing import Any

import aiohttp

from hostvitals.collector.alerts.notifiers.base import (
    DeliveryError,
    Notification,
    alertmanager_api,
    alertmanager_webhook,
    text_lines,
)
from hostvitals.collector.config.alerts import NotifierSettings


class _JsonPoster:
    def __init__(self, settings: NotifierSettings) -> None:
        self.settings = settings
        self._session: aiohttp.ClientSession | None = None

    @property
    def name(self) -> str:
        return self.settings.name

    async def _post(self, body: Any) -> None:
        assert self.settings.url is not None
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.settings.timeout_s)
            )
        try:
            async with self._session.post(self.settings.url, json=body) as response:
                if response.status < 300:
                    return
                text = (await response.text(errors="replace"))[:200]
                retryable = response.status >= 500 or response.status in (408, 429)
                raise DeliveryError(
                    f"{self.name}: HTTP {response.status} {text}".strip(),
                    retryable=retryable,
                    reason=f"http_{response.status // 100}xx",
                )
        except TimeoutError:
            raise DeliveryError(
                f"{self.name}: no answer within {self.settings.timeout_s:g}s", reason="timeout"
            ) from None
        except aiohttp.ClientError as exc:
            raise DeliveryError(f"{self.name}: {exc}", reason="connection") from None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class WebhookNotifier(_JsonPoster):
    """Alertmanager's webhook JSON, or a list of alerts for Alertmanager's own API."""

    async def send(self, notification: Notification) -> None:
        if self.settings.webhook_format == "alertmanager_api":
            await self._post(alertmanager_api(notification))
        else:
            await self._post(alertmanager_webhook(notification))


class SlackNotifier(_JsonPoster):
    async def send(self, notification: Notification) -> None:
        lines = text_lines(notification)
        color = "danger" if notification.status == "firing" else "good"
        await self._post(
            {
                "text": notification.title(),
                "attachments": [{"color": color, "text": "\n".join(lines), "mrkdwn_in": []}],
            }
        )
