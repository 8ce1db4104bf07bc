"""Secrets stay secret: config errors never echo them, ``/api/v1/notifiers`` shows where a
notifier sends without its key, and neither the collector's log nor ``/metrics`` shows a
token, a password or a webhook's secret path while they are used."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest
import yaml

from hostvitals.collector.alerts.dispatch import Job
from hostvitals.collector.alerts.notifiers.base import AlertView, Notification
from hostvitals.collector.config.loader import ConfigError, load_settings
from tests.support.access import bearer, make_credentials
from tests.support.collector_app import running, settings
from tests.support.processes import free_port

HOOK_KEY = "Xy7Zq8sL0mYb2n4xV6c8secret"
PASSWORD = "pa55-w0rd-never-shown"
LEGACY = "legacy-token-never-shown"


NOTIFICATION = Notification(
    receiver="any",
    group_key="Always",
    group_labels={"alertname": "Always"},
    alerts=(
        AlertView(status="firing", labels={"alertname": "Always"}, annotations={},
                  starts_at=1_700_000_000.0, ends_at=None, fingerprint="f1", value=1.0,
                  generator_url="http://collector/alerts"),
    ),
    external_url="http://collector",
)  # fmt: skip


def notifiers(port: int) -> list[dict[str, Any]]:
    return [
        {"name": "hook", "type": "webhook",
         "url": f"http://127.0.0.1:{port}/hooks/{HOOK_KEY}?sig={HOOK_KEY}"},
        {"name": "mail", "type": "email", "smtp_host": "127.0.0.1", "smtp_port": port,
         "smtp_username": "alerts", "smtp_password": PASSWORD,
         "email_from": "hostvitals@example.org", "email_to": ["oncall@example.org"]},
    ]  # fmt: skip


def config_error(tmp_path: Path, doc: dict[str, Any]) -> str:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {})
    return str(caught.value)


@pytest.mark.parametrize(
    "doc",
    [
        {"auth": {"tokens": [f" {LEGACY}"]}},
        {"auth": {"tokens": [[LEGACY]]}},
        {"alerts": {"notifiers": [{**notifiers(1)[1], "smtp_password": [PASSWORD]}]}},
        {"alerts": {"notifiers": [{**notifiers(1)[1], "smtp_password_file": "/x"}]}},
        {"alerts": {"notifiers": [{**notifiers(1)[1], "smtp_tls": "none"}]}},
        {"alerts": {"notifiers": [{**notifiers(1)[1], "smtp_pasword": PASSWORD}]}},
        {"alerts": {"notifiers": [{**notifiers(1)[0], "url": f"ftp://h/{HOOK_KEY}"}]}},
        {"alerts": {"notifiers": [{**notifiers(1)[0], "timeout_s": -1}]}},
    ],
)
def test_config_errors_never_echo_a_secret(tmp_path: Path, doc: dict[str, Any]) -> None:
    message = config_error(tmp_path, doc)
    assert message.startswith("config error: ")
    for secret in (LEGACY, PASSWORD, HOOK_KEY):
        assert secret not in message, message


def test_other_values_are_still_shown(tmp_path: Path) -> None:
    message = config_error(tmp_path, {"limits": {"max_body_bytes": -1}})
    assert "(got -1)" in message


async def test_logs_api_and_metrics_show_no_secret(caplog: pytest.LogCaptureFixture) -> None:
    dead = free_port()  # nothing listens: every delivery fails, and says so in the log
    app_settings = settings(
        auth={"tokens": [LEGACY]},
        alerts={
            "notifiers": notifiers(dead),
            "delivery_attempts": 2,
            "delivery_backoff_s": 0.01,
        },
        server={"log_level": "debug"},
    )
    caplog.set_level(logging.DEBUG)
    async with running(app_settings) as (app, client, _vm):
        creds = make_credentials(app, "secrets-host")
        # Secrets flowing: good and bad credentials, in headers, queries and logs.
        await client.get("/api/v1/hosts", headers=bearer(creds.viewer))
        await client.get("/api/v1/hosts", headers=bearer(creds.viewer + "x"))
        await client.get("/api/v1/hosts", params={"token": creds.admin}, headers=bearer(LEGACY))
        await client.get("/api/v1/hosts", auth=("grafana", creds.viewer))
        logging.getLogger("hostvitals.collector.test").warning(
            "a careless line: %s %s %s", creds.admin, PASSWORD, f"Bearer {creds.operator}"
        )
        workers = app.state.alerts.outbound.workers
        for name, worker in workers.items():
            assert worker.submit(Job(name, "g", NOTIFICATION, frozenset(), frozenset()))
        for _ in range(200):  # both notifiers try, fail and give up
            if all(w.status.failed for w in workers.values()):
                break
            await asyncio.sleep(0.05)
        assert all(w.status.last_error for w in workers.values())
        answer = await client.get("/api/v1/notifiers", headers=bearer(creds.viewer))
        metrics = await client.get("/metrics", headers=bearer(creds.viewer))
    shown = {n["name"]: n for n in answer.json()["data"]}
    assert shown["hook"]["destination"] == f"http://127.0.0.1:{dead}/***"
    assert shown["mail"]["destination"] == f"smtp://127.0.0.1:{dead}"
    secrets = (LEGACY, PASSWORD, HOOK_KEY, creds.admin, creds.viewer, creds.operator, creds.agent)
    for secret in secrets:
        assert secret not in answer.text
        assert secret not in metrics.text
        assert secret not in caplog.text
        assert all(secret not in r.getMessage() for r in caplog.records)
    assert "a careless line" in caplog.text


async def test_the_public_health_check_hides_the_stores_credentials() -> None:
    url = f"http://hostvitals:{PASSWORD}@127.0.0.1:1"
    async with running(settings(victoriametrics={"url": url})) as (_app, client, vm):
        vm.reachable = False
        answer = await client.get("/api/v1/health")
    assert answer.json()["victoriametrics"]["url"] == "http://***@127.0.0.1:1"
    assert PASSWORD not in answer.text


async def test_ip_addresses_are_masked_when_asked(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    log = logging.getLogger("hostvitals.collector.test")
    async with running(settings(logging={"mask_ip_addresses": True})):
        log.info("agent at 198.51.100.23 and 2001:db8::7 sent a frame")
    async with running(settings()):
        log.info("agent at 198.51.100.24 sent a frame")
    assert "198.51.100.23" not in caplog.text and "2001:db8::7" not in caplog.text
    assert "agent at <ip> and <ip> sent a frame" in caplog.text
    assert "agent at 198.51.100.24 sent a frame" in caplog.text  # off by default
