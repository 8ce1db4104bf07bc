"""Every shipped rule and SLO evaluates without error over its whole default window, within
VictoriaMetrics' default query limits, against 30 days of backdated inputs of a healthy
fleet; and a healthy fleet raises no alert. An SLO whose queries fail reads as unknown and
raises one low-severity alert, never a burn alert."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import requests
import yaml

from hostvitals.collector.alerts.rules import default_rules
from hostvitals.collector.alerts.selfscrape import SELF_JOB
from hostvitals.collector.config.alerts import DefaultRulesSettings
from hostvitals.collector.config.settings import Settings
from tests.support.collector_app import serving, settings
from tests.support.processes import VictoriaMetrics

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
DAY = 86_400
FRESHNESS_BUCKETS = ("0.1", "0.25", "0.5", "1.0", "2.0", "5.0", "10.0", "30.0", "60.0", "300.0")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[VictoriaMetrics]:
    """A store of this test's own, with VictoriaMetrics' default query limits."""
    vm = VictoriaMetrics(data_dir=tmp_path / "vm" / "data")
    vm.start()
    yield vm
    vm.stop()


def shipped(vm: VictoriaMetrics, **slos: Any) -> Settings:
    """The shipped configuration's rules and SLOs, on ``vm``."""
    doc = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    return settings(
        victoriametrics={"url": vm.url},
        alerts=doc["alerts"],
        slos={**doc["slos"], **slos},
    )


def import_lines(vm: VictoriaMetrics, lines: list[dict[str, Any]]) -> None:
    body = b"\n".join(orjson.dumps(line) for line in lines)
    requests.post(f"{vm.url}/api/v1/import", data=body, timeout=60).raise_for_status()


def counter(
    name: str, labels: dict[str, str], start: int, end: int, per_minute: float
) -> dict[str, Any]:
    stamps = range(start, end + 1, 60)
    return {
        "metric": {"__name__": name, **labels},
        "values": [per_minute * i for i, _ in enumerate(stamps)],
        "timestamps": [t * 1000 for t in stamps],
    }


def gauge(name: str, labels: dict[str, str], start: int, end: int, value: float) -> dict[str, Any]:
    stamps = range(start, end + 1, 60)
    return {
        "metric": {"__name__": name, **labels},
        "values": [value] * len(stamps),
        "timestamps": [t * 1000 for t in stamps],
    }


CORE = {"chip": "platform_coretemp_0", "sensor": "temp1"}
NVME = {"chip": "nvme_nvme0", "sensor": "temp1"}
ROOT_FS = {"mountpoint": "/", "fstype": "ext4", "device": "/dev/vda1"}


def seed_healthy_fleet(vm: VictoriaMetrics) -> int:
    """30 days of the collector's own metrics (the SLOs' inputs) and a day of one healthy
    host (the host rules' inputs), one point a minute up to now; returns that last minute.

    "Now" is taken here, not when the module is imported: the engine also evaluates on its
    own at the real time, and both must see data that ends at the same minute."""
    now = int(time.time()) // 60 * 60
    month, day = now - 30 * DAY, now - DAY
    me = {"job": SELF_JOB, "instance": "127.0.0.1:8000"}
    lines = [
        counter("hostvitals_collector_ingest_frames_total", me, month, now, 60),
        counter("hostvitals_collector_ingest_duplicates_total", me, month, now, 0),
        counter(
            "hostvitals_collector_ingest_rejected_total",
            {**me, "reason": "vm_unavailable"},
            month,
            now,
            0,
        ),
        counter("hostvitals_collector_freshness_seconds_count", me, month, now, 60),
        *(
            counter(
                "hostvitals_collector_freshness_seconds_bucket", {**me, "le": le}, month, now, 60
            )
            for le in (*FRESHNESS_BUCKETS, "+Inf")
        ),
    ]
    host = {"host": "healthy-1"}
    lines += [
        counter("node_cpu_seconds_total", {**host, "cpu": "0", "mode": "idle"}, day, now, 54),
        counter("node_cpu_seconds_total", {**host, "cpu": "0", "mode": "user"}, day, now, 6),
        gauge("node_cpu_count", host, day, now, 1),
        gauge("node_memory_MemAvailable_bytes", host, day, now, 6e9),
        gauge("node_memory_MemTotal_bytes", host, day, now, 8e9),
        gauge(
            "node_filesystem_avail_bytes",
            {**host, "mountpoint": "/", "fstype": "ext4", "device": "/dev/vda1"},
            day,
            now,
            50e9,
        ),
        gauge(
            "node_filesystem_size_bytes",
            {**host, "mountpoint": "/", "fstype": "ext4", "device": "/dev/vda1"},
            day,
            now,
            100e9,
        ),
        counter(
            "hostvitals_agent_dropped_samples_total", {**host, "reason": "spool_full"}, day, now, 0
        ),
        gauge("hostvitals_agent_spool_frames", host, day, now, 0),
        gauge("node_hwmon_temp_celsius", {**host, **CORE}, day, now, 45),
        gauge("node_hwmon_temp_crit_celsius", {**host, **CORE}, day, now, 100),
        counter("node_pressure_memory_stalled_seconds_total", host, day, now, 0.1),
        counter("node_pressure_io_stalled_seconds_total", host, day, now, 0.5),
        gauge("node_filefd_allocated", host, day, now, 2_000),
        gauge("node_filefd_maximum", host, day, now, 9.2e18),
        gauge("smartctl_device_smart_status", {**host, "device": "sda"}, day, now, 1),
        gauge("smartctl_device_smart_status", {**host, "device": "nvme0"}, day, now, 1),
        gauge("smartctl_device_critical_warning", {**host, "device": "nvme0"}, day, now, 0),
    ]
    import_lines(vm, lines)
    vm.flush()
    return now


async def test_every_shipped_rule_and_slo_evaluates_over_its_full_window(
    store: VictoriaMetrics,
) -> None:
    now = seed_healthy_fleet(store)
    async with serving(shipped(store)) as (app, client):
        engine = app.state.alerts
        await engine.evaluate_slos(float(now))
        await engine.evaluate(float(now), [])

        slos = (await client.get("/api/v1/slos")).json()["data"]
        assert {s["name"] for s in slos} == {"hostvitals-ingest", "hostvitals-freshness"}
        for report in slos:
            assert report["error"] is None, report["name"]
            assert [i["error"] for i in report["indicators"]] == [None], report["name"]
            assert report["state"] == "healthy", report["name"]
            # Every window answered, the 30-day one included.
            assert report["availability"] == pytest.approx(1.0), report["name"]
            assert all(rate == pytest.approx(0.0) for rate in report["burn_rates"].values())

        groups = (await client.get("/api/v1/rules")).json()["data"]["groups"]
        rules = [r for g in groups for r in g["rules"]]
        assert len(rules) >= 15
        assert [(r["name"], r["lastError"]) for r in rules if r["health"] != "ok"] == []
        assert (await client.get("/api/v1/alerts")).json()["data"]["alerts"] == []

    # The exported rule file, as vmalert or Prometheus would evaluate it, answers too.
    exported = yaml.safe_load((REPO / "deploy" / "alerts" / "hostvitals-rules.yml").read_text())
    for group in exported["groups"]:
        for rule in group["rules"]:
            answer = requests.get(
                f"{store.url}/api/v1/query", params={"query": rule["expr"], "time": now}, timeout=30
            )
            assert answer.status_code == 200, (rule["alert"], answer.text)
            assert answer.json()["data"]["result"] == [], rule["alert"]


def filling(
    labels: dict[str, str], start: int, end: int, first: float, per_minute: float
) -> dict[str, Any]:
    line = gauge("node_filesystem_avail_bytes", labels, start, end, 0)
    line["values"] = [first - per_minute * i for i in range(len(line["values"]))]
    return line


def test_each_host_rule_finds_the_host_it_describes_and_only_that(store: VictoriaMetrics) -> None:
    """The host rules' queries on a real VictoriaMetrics: a sick host's hot sensor, failing
    disks, memory and I/O stalls, file handles and a disk filling for a day are found; the
    healthy host's readings are not, and neither is a disk that has only just started filling
    (no hour of history to predict from)."""
    now = seed_healthy_fleet(store)
    day = now - DAY
    sick, fresh = {"host": "sick-1"}, {"host": "fresh-1"}
    import_lines(
        store,
        [
            # a sensor without a stated limit above 85 °C, and one within 5 °C of its own
            gauge("node_hwmon_temp_celsius", {**sick, **CORE}, day, now, 92),
            gauge("node_hwmon_temp_celsius", {**sick, **NVME}, day, now, 81),
            gauge("node_hwmon_temp_crit_celsius", {**sick, **NVME}, day, now, 84.85),
            gauge("node_hwmon_temp_celsius", {**fresh, **NVME}, day, now, 75),
            gauge("node_hwmon_temp_crit_celsius", {**fresh, **NVME}, day, now, 84.85),
            counter("node_pressure_memory_stalled_seconds_total", sick, day, now, 30),
            counter("node_pressure_io_stalled_seconds_total", sick, day, now, 40),
            gauge("node_filefd_allocated", sick, day, now, 95),
            gauge("node_filefd_maximum", sick, day, now, 100),
            # 35 GB free falling 20 MB a minute: 6.2 GB (6.2 %) free now, empty in 5 hours
            filling({**sick, **ROOT_FS}, day, now, 35e9, 2e7),
            gauge("node_filesystem_size_bytes", {**sick, **ROOT_FS}, day, now, 100e9),
            # as steep, but only for the last ten minutes
            filling({**fresh, **ROOT_FS}, now - 600, now, 10e9, 5e8),
            gauge("node_filesystem_size_bytes", {**fresh, **ROOT_FS}, now - 600, now, 100e9),
            # an ATA disk whose health check failed, an NVMe drive whose spare ran low (bit 0)
            gauge("smartctl_device_smart_status", {**sick, "device": "sdb"}, day, now, 0),
            gauge("smartctl_device_smart_status", {**sick, "device": "nvme1"}, day, now, 1),
            gauge("smartctl_device_critical_warning", {**sick, "device": "nvme1"}, day, now, 1),
        ],
    )
    store.flush()
    d = DefaultRulesSettings()
    rules = {r.name: r for r in default_rules(d)}

    def query(name: str) -> list[dict[str, Any]]:
        answer = requests.get(
            f"{store.url}/api/v1/query", params={"query": rules[name].expr, "time": now}, timeout=30
        )
        assert answer.status_code == 200, (name, answer.text)
        result: list[dict[str, Any]] = answer.json()["data"]["result"]
        return result

    def found(name: str) -> dict[str, float]:
        threshold = rules[name].threshold
        values = {r["metric"]["host"]: float(r["value"][1]) for r in query(name)}
        if threshold is not None:
            return {host: v for host, v in values.items() if v > threshold}
        return values

    hot = {
        (r["metric"]["host"], r["metric"]["chip"]): float(r["value"][1])
        for r in query("HighTemperature")
    }
    assert hot == {("sick-1", "platform_coretemp_0"): 92, ("sick-1", "nvme_nvme0"): 81}
    assert found("MemoryPressure") == {"sick-1": pytest.approx(50)}
    assert found("IOPressure") == {"sick-1": pytest.approx(200 / 3)}
    assert found("FileDescriptorsExhausted") == {"sick-1": pytest.approx(95)}
    assert found("DiskFillingUp") == {"sick-1": pytest.approx(6.2, abs=0.1)}
    failing = {(r["metric"]["host"], r["metric"]["device"]) for r in query("DiskUnhealthy")}
    assert failing == {("sick-1", "sdb"), ("sick-1", "nvme1")}


async def test_an_slo_that_cannot_be_evaluated_is_unknown_with_one_low_alert(
    store: VictoriaMetrics,
) -> None:
    now = seed_healthy_fleet(store)
    # A query VictoriaMetrics refuses, as it refused the 30-day subquery at a 1 min step.
    broken = {
        "builtin": False,
        "objectives": [
            {
                "name": "broken",
                "target": 0.99,
                "indicators": [{"name": "bad", "expr": "sum(rate(", "op": "<", "threshold": 1}],
            }
        ],
    }
    async with serving(shipped(store, **broken)) as (app, client):
        engine = app.state.alerts
        await engine.evaluate_slos(float(now))
        await engine.evaluate(float(now), [])
        report = (await client.get("/api/v1/slos/broken")).json()["data"]
        assert report["state"] == "unknown" and report["healthy"] is None
        assert report["burning"] == [] and report["error"].startswith("bad: ")
        assert report["indicators"][0]["burning"] is False
        alerts = (await client.get("/api/v1/alerts")).json()["data"]["alerts"]
        assert [
            (a["labels"]["alertname"], a["labels"]["severity"], a["state"]) for a in alerts
        ] == [("SLOEvaluationFailed", "low", "firing")]
        assert alerts[0]["labels"]["slo"] == "broken"


def test_the_certificate_rule_finds_a_certificate_expiring_within_14_days(
    store: VictoriaMetrics,
) -> None:
    """The collector's expiry gauges, as its self-metrics write them: a served certificate
    three days from expiry is found; a client CA 60 days away, or another collector's
    certificate 15 days away, are not."""
    now = int(time.time())
    self_labels = {"job": SELF_JOB, "instance": "collector-a"}
    name = "hostvitals_collector_tls_certificate_expiry_timestamp_seconds"
    import_lines(
        store,
        [
            gauge(name, {**self_labels, "what": "server"}, now - 3600, now, now + 3 * DAY),
            gauge(name, {**self_labels, "what": "client_ca"}, now - 3600, now, now + 60 * DAY),
            gauge(
                name,
                {"job": SELF_JOB, "instance": "collector-b", "what": "server"},
                now - 3600,
                now,
                now + 15 * DAY,
            ),
        ],
    )
    store.flush()
    (rule,) = [r for r in default_rules(DefaultRulesSettings()) if r.name.endswith("Expiring")]
    answer = requests.get(
        f"{store.url}/api/v1/query", params={"query": rule.expr, "time": now}, timeout=30
    )
    assert answer.status_code == 200, answer.text
    found = {
        (r["metric"]["instance"], r["metric"]["what"]): float(r["value"][1])
        for r in answer.json()["data"]["result"]
    }
    assert found == {("collector-a", "server"): pytest.approx(3, abs=0.01)}
