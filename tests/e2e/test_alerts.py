"""Alerts end to end: real collector processes, VictoriaMetrics, an aiohttp webhook receiver
and an aiosmtpd server. CPU frames go through the real ingest path."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from hostvitals.shared.codec import encode_frame
from hostvitals.shared.protocol import Frame, Series
from tests.e2e.alert_receivers import SmtpReceiver, WebReceiver, self_signed_cert
from tests.e2e.conftest import Collector, StartAgent, StartCollector
from tests.support.processes import VictoriaMetrics, wait_until

pytestmark = pytest.mark.e2e


class CpuPoster:
    """Posts a frame of CPU counters every 0.5 s, ``busy`` of the time spent non-idle."""

    def __init__(self, url: str, host: str, busy: float) -> None:
        self.url, self.host, self.busy = url, host, busy
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.errors: list[str] = []

    def _run(self) -> None:
        idle = user = 1000.0
        seq = 0
        last = time.time()
        with requests.Session() as session:
            while not self._stop.is_set():
                now = time.time()
                dt, last = now - last, now
                idle += dt * (1 - self.busy)
                user += dt * self.busy
                seq += 1
                frame = Frame(
                    agent_id=f"poster-{self.host}",
                    host=self.host,
                    seq=seq,
                    sent_at_ms=int(now * 1000),
                    interval_s=0.5,
                    timestamps_ms=[int(now * 1000)],
                    series=[
                        Series("node_cpu_seconds_total", {"cpu": "0", "mode": "idle"}, [idle]),
                        Series("node_cpu_seconds_total", {"cpu": "0", "mode": "user"}, [user]),
                        Series("node_cpu_count", {}, [1]),
                    ],
                )
                try:
                    r = session.post(
                        f"{self.url}/api/v1/ingest",
                        data=encode_frame(frame),
                        headers={"Content-Type": "application/x-msgpack"},
                        timeout=5,
                    )
                    if r.status_code >= 300:
                        self.errors.append(f"{r.status_code} {r.text}")
                except requests.RequestException as exc:
                    self.errors.append(str(exc))  # the collector is restarting
                self._stop.wait(0.5)

    def start(self) -> CpuPoster:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[VictoriaMetrics]:
    """A VictoriaMetrics of this test's own: rules such as HighCPU cover every host in the
    store, so a store shared with other tests would let their hosts fire here."""
    vm = VictoriaMetrics(data_dir=tmp_path / "vm" / "data")
    vm.start()
    yield vm
    vm.stop()


@pytest.fixture
def web() -> Iterator[WebReceiver]:
    receiver = WebReceiver(fail_first={"/flaky": 2})
    receiver.start()
    yield receiver
    receiver.stop()


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpReceiver]:
    cert, key = self_signed_cert(tmp_path)
    receiver = SmtpReceiver(cert, key)
    receiver.start()
    receiver.cert = cert  # type: ignore[attr-defined]
    yield receiver
    receiver.stop()


def write_config(path: Path, notifiers: list[dict[str, Any]]) -> dict[str, str]:
    doc = {
        "state": {"dir": str(path.parent / "state")},
        "alerts": {
            "evaluation_interval_s": 0.5,
            "group_wait_s": 0.5,
            "group_interval_s": 1.0,
            "repeat_interval_s": 3600.0,
            "delivery_backoff_s": 0.1,
            "delivery_backoff_max_s": 0.5,
            # A 15 s rate window rides out a collector restart under load without a gap.
            "default_rules": {"cpu_for_s": 2.0, "rate_window_s": 15, "host_down_after_flushes": 3},
            "notifiers": notifiers,
        },
        "slos": {"builtin": False},
    }
    path.write_text(yaml.safe_dump(doc))
    return {"HOSTVITALS_CONFIG": str(path)}


def api(collector: Collector, path: str) -> Any:
    r = requests.get(f"{collector.url}/api/v1/{path}", timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["data"]


def alert_state(collector: Collector, name: str, host: str) -> str | None:
    for alert in api(collector, "alerts")["alerts"]:
        if alert["labels"]["alertname"] == name and alert["labels"].get("host") == host:
            return str(alert["state"])
    return None


def for_host(bodies: list[Any], host: str, status: str) -> list[Any]:
    return [b for b in bodies if b["status"] == status and b["groupLabels"].get("host") == host]


def test_high_cpu_pends_fires_notifies_once_survives_restart_and_resolves(
    start_collector: StartCollector,
    tmp_path: Path,
    host_name: str,
    web: WebReceiver,
    smtp: SmtpReceiver,
    store: VictoriaMetrics,
) -> None:
    env = write_config(
        tmp_path / "collector.yaml",
        [
            {"name": "slack", "type": "slack", "url": web.url("/slack")},
            {"name": "webhook", "type": "webhook", "url": web.url("/webhook")},
            {
                "name": "mail",
                "type": "email",
                "smtp_host": "127.0.0.1",
                "smtp_port": smtp.port,
                "smtp_tls": "starttls",
                "smtp_ca_file": str(smtp.cert),  # type: ignore[attr-defined]
                "smtp_username": smtp.user,
                "smtp_password": smtp.password,
                "email_from": "hostvitals@example.org",
                "email_to": ["oncall@example.org"],
            },
        ],
    )
    collector = start_collector(env=env, vm_url=store.url)
    poster = CpuPoster(collector.url, host_name, busy=0.95).start()
    try:
        wait_until(lambda: alert_state(collector, "HighCPU", host_name) == "pending", 30, "pending")
        wait_until(lambda: alert_state(collector, "HighCPU", host_name) == "firing", 30, "firing")

        def all_notified() -> bool:
            return (
                len(web.received("/slack")) >= 1
                and len(for_host(web.received("/webhook"), host_name, "firing")) >= 1
                and len(smtp.messages()) >= 1
            )

        wait_until(all_notified, 20, "a notification on every channel")
        (hook,) = web.received("/webhook")
        assert hook["version"] == "4" and hook["status"] == "firing"
        (alert,) = hook["alerts"]
        assert alert["labels"]["alertname"] == "HighCPU"
        assert alert["labels"]["host"] == host_name
        assert alert["labels"]["severity"] == "high"
        assert "above 80 %" in alert["annotations"]["description"]
        assert "FIRING" in web.received("/slack")[0]["text"]
        assert "HighCPU" in smtp.messages()[0]["Subject"]

        # Restart while firing: the state file brings the alert back, nobody is told twice.
        collector.process.stop()
        collector = start_collector(env=env, vm_url=store.url)
        poster.url = collector.url
        assert alert_state(collector, "HighCPU", host_name) == "firing"
        evaluated = api(collector, "rules")["groups"][0]["lastEvaluation"]
        wait_until(
            lambda: api(collector, "rules")["groups"][0]["lastEvaluation"] != evaluated,
            10,
            "an evaluation after the restart",
        )
        time.sleep(2.5)  # several evaluations and group intervals after the restart
        assert alert_state(collector, "HighCPU", host_name) == "firing"
        assert len(web.received("/slack")) == 1
        assert len(web.received("/webhook")) == 1
        assert len(smtp.messages()) == 1

        poster.busy = 0.05

        def all_resolved() -> bool:
            return (
                len(web.received("/slack")) >= 2
                and len(web.received("/webhook")) >= 2
                and len(smtp.messages()) >= 2
            )

        wait_until(all_resolved, 30, "a resolved notification on every channel")
        resolved = web.received("/webhook")[1]
        assert resolved["status"] == "resolved"
        assert resolved["alerts"][0]["endsAt"] != "0001-01-01T00:00:00Z"
        assert "RESOLVED" in web.received("/slack")[1]["text"]
        assert "RESOLVED" in smtp.messages()[1]["Subject"]
        assert alert_state(collector, "HighCPU", host_name) is None
        time.sleep(1.5)
        assert len(web.received("/webhook")) == 2
    finally:
        poster.stop()


def test_silence_mutes_and_a_failing_webhook_is_retried_until_delivered(
    start_collector: StartCollector,
    tmp_path: Path,
    host_name: str,
    web: WebReceiver,
    store: VictoriaMetrics,
) -> None:
    env = write_config(
        tmp_path / "collector.yaml",
        [{"name": "flaky", "type": "webhook", "url": web.url("/flaky")}],
    )
    collector = start_collector(env=env, vm_url=store.url)
    silenced, loud = f"{host_name}-quiet", f"{host_name}-loud"
    r = requests.post(
        f"{collector.url}/api/v1/silences",
        json={
            "matchers": [
                {"name": "alertname", "value": "HighCPU"},
                {"name": "host", "value": silenced},
            ],
            "durationSeconds": 3600,
            "createdBy": "test",
            "comment": "maintenance",
        },
        timeout=10,
    )
    assert r.status_code == 201, r.text
    silence_id = r.json()["data"]["silenceID"]
    posters = [CpuPoster(collector.url, h, busy=0.95).start() for h in (silenced, loud)]
    try:
        wait_until(lambda: alert_state(collector, "HighCPU", silenced) == "firing", 30, "firing")
        wait_until(lambda: len(web.received("/flaky")) >= 1, 30, "the webhook delivery")
        # The receiver answered 500 twice: the notification was retried and arrived once.
        assert web.attempts["/flaky"] == 3
        bodies = web.received("/flaky")
        assert [b["groupLabels"]["host"] for b in bodies] == [loud]
        alerts = {a["labels"]["host"]: a for a in api(collector, "alerts")["alerts"]}
        assert alerts[silenced]["muted"] == "silenced"
        (status,) = api(collector, "notifiers")
        assert (status["sent"], status["failedAttempts"]) == (1, 2)
        metrics = requests.get(f"{collector.url}/metrics", timeout=10).text
        assert (
            'hostvitals_collector_alert_notification_failures_total{notifier="flaky",'
            'reason="http_5xx"} 2.0'
        ) in metrics

        # Expiring the silence lets the muted alert through.
        r = requests.delete(f"{collector.url}/api/v1/silences/{silence_id}", timeout=10)
        assert r.status_code == 200 and r.json()["data"]["status"]["state"] == "expired"
        wait_until(
            lambda: any(b["groupLabels"]["host"] == silenced for b in web.received("/flaky")),
            20,
            "the notification once the silence expired",
        )
    finally:
        for poster in posters:
            poster.stop()


def test_a_host_whose_agent_stops_gets_a_host_down_alert(
    start_collector: StartCollector,
    start_agent: StartAgent,
    tmp_path: Path,
    host_name: str,
    web: WebReceiver,
    store: VictoriaMetrics,
) -> None:
    env = write_config(
        tmp_path / "collector.yaml",
        [{"name": "webhook", "type": "webhook", "url": web.url("/webhook")}],
    )
    collector = start_collector(env=env, vm_url=store.url)
    agent = start_agent(collector.url, host_name, env={"HOSTVITALS_AGENT_FLUSH_INTERVAL": "1"})

    def reporting() -> bool:
        hosts = requests.get(f"{collector.url}/api/v1/hosts", timeout=10).json()["data"]
        return any(h["host"] == host_name and h["status"] == "up" for h in hosts)

    wait_until(reporting, 30, f"{host_name} to report", step=0.2)
    assert alert_state(collector, "HostDown", host_name) is None
    agent.stop()
    wait_until(lambda: alert_state(collector, "HostDown", host_name) == "firing", 30, "HostDown")
    wait_until(
        lambda: len(for_host(web.received("/webhook"), host_name, "firing")) == 1,
        20,
        "the host-down notification",
    )
    (body,) = for_host(web.received("/webhook"), host_name, "firing")
    assert body["alerts"][0]["labels"]["severity"] == "critical"


def test_a_delivery_in_flight_at_a_graceful_stop_is_sent_once(
    start_collector: StartCollector,
    tmp_path: Path,
    host_name: str,
    store: VictoriaMetrics,
) -> None:
    # The receiver has the notification at once but answers only 2 s later, so the stop
    # below lands while the delivery is in flight.
    web = WebReceiver(answer_after_s={"/slow": 2.0})
    web.start()
    env = write_config(
        tmp_path / "collector.yaml",
        [{"name": "slow", "type": "webhook", "url": web.url("/slow")}],
    )
    collector = start_collector(env=env, vm_url=store.url)
    poster = CpuPoster(collector.url, host_name, busy=0.95).start()
    try:
        wait_until(lambda: len(web.received("/slow")) == 1, 40, "the notification to arrive")
        # SIGTERM: a graceful stop (uvicorn re-raises the signal once it has shut down)
        assert collector.process.stop(timeout=20) in (0, -signal.SIGTERM)
        assert "Traceback" not in collector.process.log_tail()
        collector = start_collector(env=env, vm_url=store.url)
        poster.url = collector.url
        assert alert_state(collector, "HighCPU", host_name) == "firing"
        time.sleep(3)  # several evaluations and group intervals of the new process
        assert len(web.received("/slow")) == 1
        assert web.attempts["/slow"] == 1
    finally:
        poster.stop()
        web.stop()


def test_a_collector_restart_pages_for_no_host_that_kept_reporting(
    start_collector: StartCollector,
    start_agent: StartAgent,
    tmp_path: Path,
    host_name: str,
    web: WebReceiver,
    store: VictoriaMetrics,
) -> None:
    env = write_config(
        tmp_path / "collector.yaml",
        [{"name": "webhook", "type": "webhook", "url": web.url("/webhook")}],
    )
    collector = start_collector(env=env, vm_url=store.url)
    port = collector.port
    agent_env = {
        "HOSTVITALS_AGENT_FLUSH_INTERVAL": "1",
        "HOSTVITALS_AGENT_OUTAGE_FLUSH_INTERVAL": "1",
        "HOSTVITALS_AGENT_RETRY_BACKOFF_MAX": "1",
        "HOSTVITALS_AGENT_SAMPLERS__PROCESSES__ENABLED": "false",
    }
    hosts = [f"{host_name}-{i:02d}" for i in range(20)]
    for host in hosts:
        start_agent(collector.url, host, env=agent_env)

    def reporting(c: Collector) -> set[str]:
        rows = requests.get(f"{c.url}/api/v1/hosts", timeout=10).json()["data"]
        return {h["host"] for h in rows if h["status"] == "up"}

    wait_until(lambda: reporting(collector) >= set(hosts), 60, "20 hosts to report", step=0.5)
    # Down after 3 flush periods (3 s): the collector stays away for longer than that, while
    # the agents keep sampling into their spools.
    collector.process.stop()
    time.sleep(5)
    collector = start_collector(port=port, env=env, vm_url=store.url)
    wait_until(lambda: reporting(collector) >= set(hosts), 30, "20 hosts back", step=0.5)
    time.sleep(4)  # past a whole down period after the restart

    def host_down(labels: dict[str, str]) -> bool:
        return labels.get("alertname") == "HostDown"

    assert [a for a in api(collector, "alerts")["alerts"] if host_down(a["labels"])] == []
    # Only HostDown is this test's business: 20 agents starting on one machine may well make
    # HighCPU true for a while.
    assert [b for b in web.received("/webhook") if host_down(b["groupLabels"])] == []
