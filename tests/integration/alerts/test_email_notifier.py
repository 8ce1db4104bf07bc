"""The e-mail notifier against a real SMTP server (aiosmtpd): implicit TLS and STARTTLS, with a
login, a clear failure when the server's certificate is not trusted, and no login over an
unencrypted connection unless allowed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from hostvitals.collector.alerts.notifiers.base import AlertView, DeliveryError, Notification
from hostvitals.collector.alerts.notifiers.email import EmailNotifier
from hostvitals.collector.config.alerts import NotifierSettings
from hostvitals.collector.config.loader import ConfigError, load_settings
from tests.e2e.alert_receivers import SmtpReceiver, self_signed_cert

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed_cert(tmp_path_factory.mktemp("smtp-cert"))


@pytest.fixture(params=["tls", "starttls"])
def receiver(
    request: pytest.FixtureRequest, certificate: tuple[Path, Path]
) -> Iterator[tuple[str, SmtpReceiver]]:
    cert, key = certificate
    smtp = SmtpReceiver(cert, key, implicit_tls=request.param == "tls")
    smtp.start()
    try:
        yield request.param, smtp
    finally:
        smtp.stop()


def notifier(mode: str, smtp: SmtpReceiver, ca_file: Path | None) -> EmailNotifier:
    return EmailNotifier(
        NotifierSettings(
            name="mail",
            type="email",
            smtp_host="127.0.0.1",
            smtp_port=smtp.port,
            smtp_tls=mode,  # type: ignore[arg-type]
            smtp_ca_file=ca_file,
            smtp_username=smtp.user,
            smtp_password=SecretStr(smtp.password),
            email_from="hostvitals@example.org",
            email_to=["oncall@example.org"],
        )
    )


NOTIFICATION = Notification(
    receiver="mail",
    group_key="HighCPU/web-1",
    group_labels={"alertname": "HighCPU", "host": "web-1"},
    alerts=(
        AlertView(
            status="firing",
            labels={"alertname": "HighCPU", "host": "web-1", "severity": "high"},
            annotations={"summary": "CPU on web-1 is 95 % (threshold 80 %)"},
            starts_at=1_700_000_000.0,
            ends_at=None,
            fingerprint="f1",
            value=0.95,
            generator_url="http://collector/alerts",
        ),
    ),
    external_url="http://collector",
)


async def test_mail_arrives_over_an_encrypted_authenticated_session(
    receiver: tuple[str, SmtpReceiver], certificate: tuple[Path, Path]
) -> None:
    mode, smtp = receiver
    mail = notifier(mode, smtp, certificate[0])
    try:
        await mail.send(NOTIFICATION)
    finally:
        await mail.close()
    (message,) = smtp.messages()
    assert message["To"] == "oncall@example.org"
    assert "HighCPU" in message["Subject"]
    assert "web-1" in message.as_string()


async def test_an_untrusted_certificate_is_refused(receiver: tuple[str, SmtpReceiver]) -> None:
    mode, smtp = receiver
    mail = notifier(mode, smtp, None)  # the self-signed certificate is not in the system store
    try:
        with pytest.raises(DeliveryError, match="certificate verify failed"):
            await mail.send(NOTIFICATION)
    finally:
        await mail.close()
    assert smtp.messages() == []


def test_a_login_over_an_unencrypted_connection_is_a_config_error() -> None:
    fields: dict[str, Any] = {
        "name": "mail", "type": "email", "smtp_host": "127.0.0.1", "smtp_tls": "none",
        "smtp_username": "alerts", "smtp_password": "s3cret", "email_from": "a@example.org",
        "email_to": ["b@example.org"],
    }  # fmt: skip
    with pytest.raises(ConfigError, match="would send the password unencrypted") as caught:
        load_settings(None, {}, {"alerts.notifiers": [fields]})
    assert "s3cret" not in str(caught.value)
    fields["smtp_username"] = None
    fields["smtp_password"] = None
    NotifierSettings.model_validate(fields)  # no login: no password to leak
    NotifierSettings.model_validate({**fields, "smtp_username": "alerts",
                                     "allow_plaintext_auth": True})  # fmt: skip


@pytest.fixture
def plaintext_server(certificate: tuple[Path, Path]) -> Iterator[SmtpReceiver]:
    smtp = SmtpReceiver(*certificate, plaintext=True)
    smtp.start()
    try:
        yield smtp
    finally:
        smtp.stop()


def _plain(smtp: SmtpReceiver, **extra: Any) -> EmailNotifier:
    return EmailNotifier(
        NotifierSettings.model_validate(
            {
                "name": "mail", "type": "email", "smtp_host": "127.0.0.1",
                "smtp_port": smtp.port, "smtp_username": smtp.user,
                "smtp_password": smtp.password, "email_from": "hostvitals@example.org",
                "email_to": ["oncall@example.org"], **extra,
            }
        )
    )  # fmt: skip


async def test_starttls_never_falls_back_to_a_plaintext_login(
    plaintext_server: SmtpReceiver,
) -> None:
    mail = _plain(plaintext_server, smtp_tls="starttls")
    try:
        with pytest.raises(DeliveryError, match="STARTTLS") as caught:
            await mail.send(NOTIFICATION)
    finally:
        await mail.close()
    assert not caught.value.retryable
    assert plaintext_server.login.attempts == 0 and plaintext_server.messages() == []


async def test_a_plaintext_login_when_allowed(plaintext_server: SmtpReceiver) -> None:
    mail = _plain(plaintext_server, smtp_tls="none", allow_plaintext_auth=True)
    try:
        await mail.send(NOTIFICATION)
    finally:
        await mail.close()
    assert plaintext_server.login.attempts == 1 and len(plaintext_server.messages()) == 1
