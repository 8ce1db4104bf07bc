"""E-mail over SMTP: plain, STARTTLS or implicit TLS, with optional login."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage

from hostvitals.collector.alerts.notifiers.base import DeliveryError, Notification, text_lines
from hostvitals.collector.config.alerts import NotifierSettings
from hostvitals.shared.masking import register_secret


class EmailNotifier:
    def __init__(self, settings: NotifierSettings) -> None:
        self.settings = settings

    @property
    def name(self) -> str:
        return self.settings.name

    async def send(self, notification: Notification) -> None:
        message = self._message(notification)
        await asyncio.to_thread(self._deliver, message)

    async def close(self) -> None:
        return None

    def _message(self, notification: Notification) -> EmailMessage:
        s = self.settings
        message = EmailMessage()
        message["Subject"] = notification.title()
        message["From"] = s.email_from or ""
        message["To"] = ", ".join(s.email_to)
        body = [*text_lines(notification), "", f"Alerts: {notification.external_url}/api/v1/alerts"]
        message.set_content("\n".join(body) + "\n")
        return message

    def _password(self) -> str | None:
        s = self.settings
        if s.smtp_password_file is not None:
            try:
                password = s.smtp_password_file.read_text(encoding="utf-8").strip()
                register_secret(password)
                return password
            except OSError as exc:
                raise DeliveryError(
                    f"{self.name}: cannot read smtp_password_file: {exc}", retryable=False
                ) from None
        return None if s.smtp_password is None else s.smtp_password.get_secret_value()

    def _context(self) -> ssl.SSLContext:
        cafile = str(self.settings.smtp_ca_file) if self.settings.smtp_ca_file else None
        return ssl.create_default_context(cafile=cafile)

    def _deliver(self, message: EmailMessage) -> None:
        s = self.settings
        assert s.smtp_host is not None
        try:
            smtp: smtplib.SMTP
            if s.smtp_tls == "tls":
                smtp = smtplib.SMTP_SSL(
                    s.smtp_host, s.smtp_port, timeout=s.timeout_s, context=self._context()
                )
            else:
                smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.timeout_s)
            with smtp:
                if s.smtp_tls == "starttls":
                    smtp.starttls(context=self._context())
                if s.smtp_username:
                    smtp.login(s.smtp_username, self._password() or "")
                smtp.send_message(message)
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(
                f"{self.name}: SMTP login refused: {exc.smtp_code}", retryable=False, reason="auth"
            ) from None
        except smtplib.SMTPNotSupportedError as exc:
            raise DeliveryError(
                f"{self.name}: the SMTP server lacks a needed feature: {exc}",
                retryable=False,
                reason="smtp",
            ) from None
        except smtplib.SMTPResponseException as exc:
            retryable = exc.smtp_code >= 400 and exc.smtp_code < 500
            raise DeliveryError(
                f"{self.name}: SMTP {exc.smtp_code} {exc.smtp_error!r}",
                retryable=retryable,
                reason="smtp",
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"{self.name}: {exc}", reason="connection") from None
