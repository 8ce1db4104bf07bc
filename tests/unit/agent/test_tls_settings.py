"""The agent's TLS settings: a loud warning when verification is off, and certificate files
that must load (a reload with broken ones keeps the running configuration)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from hostvitals.agent.app import Agent
from hostvitals.agent.config import ConfigError, load_config
from hostvitals.agent.state import StateStore
from tests.support.certs import make_certs

BASE = {"HOSTVITALS_AGENT_SAMPLERS__PROCESSES__ENABLED": "false"}


def test_insecure_skip_verify_is_logged_loudly_at_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    env = {**BASE, "HOSTVITALS_AGENT_INSECURE_SKIP_VERIFY": "true"}
    with caplog.at_level(logging.WARNING), StateStore(tmp_path) as state:
        Agent(load_config(environ=env), state)
    assert "INSECURE: insecure_skip_verify is on" in caplog.text


def test_no_insecure_warning_by_default(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING), StateStore(tmp_path) as state:
        Agent(load_config(environ=BASE), state)
    assert "INSECURE" not in caplog.text


def test_client_cert_and_key_go_together_and_must_load(tmp_path: Path) -> None:
    certs = make_certs(tmp_path / "certs", "web-1")
    cert, key = certs.agent("web-1")
    with pytest.raises(ConfigError, match="client_cert and client_key together"):
        load_config(environ={**BASE, "HOSTVITALS_AGENT_CLIENT_CERT": str(cert)})
    other_key = certs.server[1]
    bad = {"HOSTVITALS_AGENT_CLIENT_CERT": str(cert), "HOSTVITALS_AGENT_CLIENT_KEY": str(other_key)}
    with pytest.raises(ConfigError, match="client_cert: cannot use"):
        load_config(environ={**BASE, **bad})
    (tmp_path / "ca.pem").write_text("not a certificate\n")
    with pytest.raises(ConfigError, match="ca_file: cannot use"):
        load_config(environ={**BASE, "HOSTVITALS_AGENT_CA_FILE": str(tmp_path / "ca.pem")})
    good = {"HOSTVITALS_AGENT_CLIENT_CERT": str(cert), "HOSTVITALS_AGENT_CLIENT_KEY": str(key)}
    loaded = load_config(environ={**BASE, **good, "HOSTVITALS_AGENT_CA_FILE": str(certs.ca)})
    assert loaded.delivery.client_cert == cert and loaded.delivery.ca_file == certs.ca
