"""A healthy stack raises no alert: the shipped configuration (every built-in rule and SLO),
a raw store and one per rollup tier, the collector and a real agent, for several minutes.
Alerts that fire on a healthy machine teach people to ignore alerts."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


def test_a_healthy_stack_on_the_shipped_configuration_raises_no_alert(
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
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + WATCH_S
    while time.monotonic() < deadline:
        seen += get(collector, "alerts")["alerts"]
        time.sleep(2)
    assert [(a["labels"], a["state"], a["annotations"]) for a in seen] == []

    groups = get(collector, "rules")["groups"]
    rules = [r for g in groups for r in g["rules"]]
    assert [(r["name"], r["lastError"]) for r in rules if r["health"] != "ok"] == []
    assert all(r["lastEvaluation"] != "0001-01-01T00:00:00Z" for r in rules)
    for report in get(collector, "slos"):
        assert report["error"] is None, report
        assert report["state"] == "healthy", report
