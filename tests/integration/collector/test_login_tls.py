"""A real collector serving HTTPS: the login's session cookie is Secure there, and a session
made over TLS works for the dashboard's data and changes (with its CSRF token)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import requests

from tests.support.certs import Certs, make_certs
from tests.support.processes import VictoriaMetrics
from tests.support.tls_collector import collector_command, tls_collector

pytestmark = pytest.mark.integration
PASSWORD = "a password over tls"


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("login-ca"), "login-agent")


def test_over_https_the_session_cookie_is_secure(
    tmp_path: Path, certs: Certs, victoria_metrics: VictoriaMetrics
) -> None:
    env = {
        "HOSTVITALS__VICTORIAMETRICS__URL": victoria_metrics.url,
        "HOSTVITALS__STATE__DIR": str(tmp_path / "state"),
        "HOSTVITALS__TIERS__ROLLUPS": "[]",
    }
    subprocess.run(
        [collector_command(), "users", "add", "ops", "--role", "operator"],
        env={**os.environ, "HOSTVITALS_CONFIG": "", **env},
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    with tls_collector(tmp_path, certs, env) as collector:
        browser = requests.Session()
        # Per request: a session-wide verify loses to REQUESTS_CA_BUNDLE in requests.
        ca = str(certs.ca)
        done = browser.post(
            f"{collector.url}/api/v1/login",
            json={"username": "ops", "password": PASSWORD},
            verify=ca,
            timeout=30,
        )
        assert done.status_code == 200, done.text
        cookie = done.headers["Set-Cookie"]
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
        assert (
            browser.get(f"{collector.url}/api/v1/hosts", verify=ca, timeout=10).status_code == 200
        )
        silence = {
            "matchers": [{"name": "host", "value": "login-agent", "isRegex": False}],
            "durationSeconds": 60,
            "createdBy": "ops",
            "comment": "over tls",
        }
        forged = browser.post(
            f"{collector.url}/api/v1/silences", json=silence, verify=ca, timeout=10
        )
        assert forged.status_code == 403
        csrf = {"X-CSRF-Token": done.json()["data"]["csrf_token"], "Origin": collector.url}
        made = browser.post(
            f"{collector.url}/api/v1/silences", json=silence, headers=csrf, verify=ca, timeout=10
        )
        assert made.status_code == 201, made.text
