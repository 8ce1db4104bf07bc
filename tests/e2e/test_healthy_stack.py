"""A healthy stack raises no false alert: the shipped configuration (every built-in rule and
SLO), a raw store and one per rollup tier, the collector and a real agent, for several
minutes. Alerts that fire on a healthy machine teach people to ignore alerts.

The stack's own rules (HostDown, AgentUnhealthy, the SLOs) must stay silent. The host rules
(HighCPU, HighMemory, DiskSpace) describe the machine the test runs on, which the test does
not control: if one of them is pending or firing, the test reads the same quantity itself and
requires the alert to be true.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import requests
import yaml

from tests.conftest import ROLLUP_TIERS
from tests.e2e.conftest import Collector, StartAgent, StartCollector
from tests.support.processes import VictoriaMetrics, wait_until

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
WATCH_S = 180.0


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[dict[str, VictoriaMetrics]]:
    """This test's own raw store and rollup tiers, started as ``make run`` starts them."""
    raw = VictoriaMetrics(data_dir=tmp_path / "raw" / "data", retention="1d")
    tiers = {
        name: VictoriaMetrics(
            data_dir=tmp_path / name / "data",
            retention=retention,
            extra_args=(f"-dedup.minScrapeInterval={resolution}s",),
        )
        for name, resolution, retention in ROLLUP_TIERS
    }
    everything = {"raw": raw, **tiers}
    try:
        for vm in everything.values():
            vm.start()
        yield everything
    finally:
        for vm in everything.values():
            vm.stop()


def shipped_config(path: Path, stores: dict[str, VictoriaMetrics]) -> dict[str, str]:
    """config/config.yaml as shipped, with only its addresses and state directory changed."""
    doc = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    doc["victoriametrics"]["url"] = stores["raw"].url
    for tier in doc["tiers"]["rollups"]:
        tier["url"] = stores[tier["name"]].url
    doc["state"]["dir"] = str(path.parent / "state")
    path.write_text(yaml.safe_dump(doc))
    return {"HOSTVITALS_CONFIG": str(path)}


def get(collector: Collector, path: str) -> Any:
    r = requests.get(f"{collector.url}/api/v1/{path}", timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["data"]


HOST_RULES = {
    "HighCPU",
    "HighMemory",
    "DiskSpace",
    "HighTemperature",
    "MemoryPressure",
    "IOPressure",
    "FileDescriptorsExhausted",
}
# DiskFillingUp needs an hour of history, which a stack this young does not have.


def stalled_total(resource: str) -> float:
    """Seconds all non-idle tasks stalled on ``resource`` (PSI ``full``), or 0 without PSI."""
    try:
        text = Path("/proc/pressure", resource).read_text()
    except OSError:
        return 0.0
    for line in text.splitlines():
        if line.startswith("full "):
            return int(line.rsplit("total=", 1)[1]) / 1e6
    return 0.0


class HostReadings:
    """The test's own reading of this machine, to judge the host rules' alerts by."""

    def __init__(self) -> None:
        self.cpu: list[tuple[float, float, float]] = []  # (time, busy, total) CPU seconds
        self.stalls: list[tuple[float, float, float]] = []  # (time, memory, io) stalled seconds

    def read(self) -> None:
        times = psutil.cpu_times()
        total = sum(times)
        now = time.time()
        self.cpu.append((now, total - times.idle, total))
        self.stalls.append((now, stalled_total("memory"), stalled_total("io")))

    def stalled_percent(self, index: int) -> float:
        """Share of the watch (at most the rules' 5 minutes) all tasks stalled on a resource."""
        first, last = self.stalls[0], self.stalls[-1]
        return 100 * (last[index] - first[index]) / max(last[0] - first[0], 1e-9)

    def busy_percent(self, window_s: float) -> float:
        """CPU busy over the last ``window_s`` seconds, as the HighCPU rule computes it."""
        now, busy, total = self.cpu[-1]
        start = next((c for c in self.cpu if c[0] >= now - window_s), self.cpu[0])
        return 100 * (busy - start[1]) / max(total - start[2], 1e-9)

    def check(self, alert: dict[str, Any], rules: dict[str, Any]) -> None:
        name = alert["labels"]["alertname"]
        assert name in HOST_RULES, f"a false alert from a healthy stack: {alert}"
        if name == "HighCPU":
            measured = self.busy_percent(rules["rate_window_s"])
            assert measured > rules["cpu_percent"] - 15, (alert, measured)
        elif name == "HighMemory":
            measured = psutil.virtual_memory().percent
            assert measured > rules["memory_percent"] - 2, (alert, measured)
        elif name in ("MemoryPressure", "IOPressure"):
            index, key = (1, "memory") if name == "MemoryPressure" else (2, "io")
            measured = self.stalled_percent(index)
            assert measured > rules[f"{key}_pressure_percent"] / 2, (alert, measured)
        elif name == "HighTemperature":
            hottest = max(
                (t.current for ts in psutil.sensors_temperatures().values() for t in ts),
                default=0.0,
            )
            assert hottest > rules["temperature_celsius"] - 5, (alert, hottest)
        elif name == "FileDescriptorsExhausted":
            allocated, _, maximum = Path("/proc/sys/fs/file-nr").read_text().split()
            measured = 100 * int(allocated) / int(maximum)
            assert measured > rules["filefd_percent"] - 2, (alert, measured)
        else:
            usage = shutil.disk_usage(alert["labels"]["mountpoint"])
            measured = 100 * usage.used / usage.total
            assert measured > rules["disk_percent"] - 2, (alert, measured)


def test_a_healthy_stack_on_the_shipped_configuration_raises_no_false_alert(
    start_collector: StartCollector,
    start_agent: StartAgent,
    tmp_path: Path,
    host_name: str,
    stores: dict[str, VictoriaMetrics],
) -> None:
    env = shipped_config(tmp_path / "collector.yaml", stores)
    collector = start_collector(env=env, vm_url=stores["raw"].url)
    start_agent(collector.url, host_name)  # the agent's defaults, at a 1 s interval
    wait_until(
        lambda: any(h["host"] == host_name for h in get(collector, "hosts")),
        60,
        "the agent to report",
        step=0.5,
    )
    thresholds = yaml.safe_load(Path(env["HOSTVITALS_CONFIG"]).read_text())["alerts"]
    watch = HostReadings()
    deadline = time.monotonic() + WATCH_S
    while time.monotonic() < deadline:
        watch.read()
        for alert in get(collector, "alerts")["alerts"]:
            watch.check(alert, thresholds["default_rules"])
        time.sleep(2)

    groups = get(collector, "rules")["groups"]
    rules = [r for g in groups for r in g["rules"]]
    assert [(r["name"], r["lastError"]) for r in rules if r["health"] != "ok"] == []
    assert all(r["lastEvaluation"] != "0001-01-01T00:00:00Z" for r in rules)
    for report in get(collector, "slos"):
        assert report["error"] is None, report
        assert report["state"] == "healthy", report
