"""The masking policy: each kind of secret, e-mail addresses and (when asked) IP addresses
are hidden, ordinary text is left as it is, and the log hook masks records of any logger."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from hostvitals.shared.masking import (
    install_log_masking,
    mask,
    redact_url,
    register_secret,
    register_secret_url,
    uninstall_log_masking,
)

SECRET = "hvt_0123456789ab_Zq8sL0mYb2n4xV6c8a0s2d4f6g8h0j2k4l6"


@pytest.mark.parametrize(
    ("text", "hidden", "kept"),
    [
        (f"Authorization: Bearer {SECRET}", SECRET, "Bearer ***"),
        ("Authorization: Basic dXNlcjpodW50ZXIy", "dXNlcjpodW50ZXIy", "Basic ***"),
        (f"presented {SECRET} twice", "Zq8sL0mYb2n4", "hvt_0123456789ab_***"),
        ("GET /api/v1/hosts?token=abc123&x=1", "abc123", "x=1"),
        ("password=hunter2 user=bob", "hunter2", "user=bob"),
        ("smtp_password: hunter2, then", "hunter2", ", then"),
        ('{"password": "hunter2", "n": 1}', "hunter2", '"n": 1'),
        ("api_key='k-1234'", "k-1234", "api_key="),
        ("client_secret=s3cr3t", "s3cr3t", "client_secret=***"),
        ("https://bob:hunter2@mail.example.org/x", "hunter2", "@mail.example.org/x"),
        ("https://vm.example:8428/api/v1/import?authKey=abc", "authKey=abc", "/api/v1/import?***"),
        ("https://hooks.example.com/services/T0A1B2C3D/B0A1B2C3D/Xy7Zq8sL0mYb2n4xV6c8",
         "Xy7Zq8sL0mYb2n4xV6c8", "https://hooks.example.com/services/"),
        ("deliver to oncall@example.org failed", "oncall@", "***@example.org"),
    ],
)  # fmt: skip
def test_the_policy_hides_secrets(text: str, hidden: str, kept: str) -> None:
    masked = mask(text)
    assert hidden not in masked and kept in masked, masked


@pytest.mark.parametrize(
    "text",
    [
        "config error: auth.tokens: tokens must be non-empty (got a hidden value)",
        "cannot read smtp_password_file: No such file",
        "http://127.0.0.1:8428/api/v1/import answered 204 in 3 ms",
        "unknown key (got 1)",
        "at 21:00:37 the ledger held 12 frames",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert mask(text) == text


def test_ip_addresses_only_when_asked() -> None:
    text = "from 192.0.2.7 and 2001:db8::1 via ::1 at 21:00:37, v1.2.3"
    assert mask(text) == text
    masked = mask(text, mask_ips=True)
    assert masked == "from <ip> and <ip> via <ip> at 21:00:37, v1.2.3"


def test_registered_secrets_and_secret_urls() -> None:
    register_secret("correct-horse-battery")
    assert mask("the password is correct-horse-battery.") == "the password is ***."
    register_secret("short")  # too short to mask without hiding ordinary words
    assert mask("a short one") == "a short one"
    url = "https://chat.example/hooks/team/abc"
    register_secret_url(url)
    assert mask(f"POST {url} failed") == "POST https://chat.example/*** failed"
    assert mask("path /hooks/team/abc seen") == "path *** seen"


def test_redact_url() -> None:
    assert (
        redact_url("https://u:p@hooks.example.com:8443/a/b?c=d")
        == "https://hooks.example.com:8443/***"
    )
    assert redact_url("http://[::1]:9000") == "http://[::1]:9000"
    assert redact_url("http://[::1") == "***"


@pytest.fixture
def masking() -> Iterator[None]:
    install_log_masking()
    try:
        yield
    finally:
        uninstall_log_masking()


def test_every_logger_is_masked(masking: None, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    logging.getLogger("some.library").warning("sent %s to %s", f"Bearer {SECRET}", "x@y.example")
    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d', "127.0.0.1", "GET", "/api/v1/hosts?token=t0k3n", "1.1", 200
    )
    try:
        raise ValueError(f"password=hunter2 and {SECRET}")
    except ValueError:
        logging.getLogger("hostvitals.collector").exception("failed")
    text = caplog.text + "".join(r.getMessage() for r in caplog.records)
    for secret in (SECRET, "t0k3n", "hunter2", "x@"):
        assert secret not in text
    # uvicorn's access formatter reads the arguments: they stay arguments, masked.
    assert caplog.records[1].args[2] == "/api/v1/hosts?token=***"  # type: ignore[index]
