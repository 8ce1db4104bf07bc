"""The e-mail notifier against a real SMTP server (aiosmtpd): implicit TLS and STARTTLS, with a
login, and a clear failure when the server's certificate is not trusted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hostvitals.collector.alerts.notifiers.base import AlertView, DeliveryError, Notification
from hostvitals.collector.alerts.notifiers.email import EmailNotifier
from hostvitals.collector.config.alerts import NotifierSettings
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
            smtp_password=smtp.password,
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
