"""The SMART sampler through the real agent, collector and VictoriaMetrics, with the stand-in
smartctl (``tests.support.smartctl``) on the agent's PATH: the disks' series arrive with the
catalogue's labels, a sleeping disk as standby, and no row is refused on the way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.agent_support import export
from tests.e2e.conftest import StartAgent, StartCollector
from tests.support.processes import VictoriaMetrics, wait_until
from tests.support.smartctl import FakeSmartctl

pytestmark = pytest.mark.e2e


def newest(series: dict[str, Any]) -> float:
    return float(max(zip(series["timestamps"], series["values"], strict=True))[1])


def test_disk_health_arrives_under_smartctl_exporters_names(
    tmp_path: Path,
    start_collector: StartCollector,
    start_agent: StartAgent,
    host_name: str,
    victoria_metrics: VictoriaMetrics,
) -> None:
    (tmp_path / "smartctl").mkdir()
    smartctl = FakeSmartctl(tmp_path / "smartctl")
    smartctl.a_host()
    collector = start_collector()
    env = {
        "PATH": smartctl.search_path(),
        "HOSTVITALS_AGENT_FLUSH_INTERVAL": "2",
        "HOSTVITALS_AGENT_SAMPLERS__SMART__ENABLED": "true",
    }
    agent = start_agent(collector.url, host_name, env=env)
    match = f'{{host="{host_name}",__name__=~"smartctl_.*|hostvitals_smart_.*"}}'

    def arrived() -> bool:
        assert agent.running(), agent.log_tail()
        names = {s["metric"]["__name__"] for s in export(victoria_metrics, match)}
        return {"smartctl_device_percentage_used", "hostvitals_smart_device_standby"} <= names

    wait_until(arrived, 60, "the SMART series", step=1.0)
    got = {
        (s["metric"]["__name__"], s["metric"].get("device", "")): s
        for s in export(victoria_metrics, match)
        if s["metric"]["__name__"] != "smartctl_device_temperature"
    }
    assert newest(got[("smartctl_devices", "")]) == 4
    assert newest(got[("smartctl_device_smart_status", "sda")]) == 1
    assert newest(got[("smartctl_device_smart_status", "sdc")]) == 0
    assert newest(got[("smartctl_device_smartctl_exit_status", "sdc")]) == 88
    assert newest(got[("hostvitals_smart_device_standby", "sdb")]) == 1
    assert ("smartctl_device_smart_status", "sdb") not in got  # asleep: left alone
    assert newest(got[("smartctl_device_percentage_used", "nvme0")]) == 3
    info = dict(got[("smartctl_device", "sda")]["metric"])
    assert info["model_name"] == "WDC WD40EFRX-68N32N0"
    assert info["serial_number"] == "WD-WCC7K3PL1234"
    temperature = export(
        victoria_metrics, f'smartctl_device_temperature{{host="{host_name}",device="nvme0"}}'
    )
    assert [s["metric"]["temperature_type"] for s in temperature] == ["current"]
    assert newest(temperature[0]) == 41

    # nothing was dropped by the agent or refused by the collector on the way
    health = export(victoria_metrics, f'{{host="{host_name}",__name__=~"hostvitals_agent_.*"}}')
    dropped = [
        s for s in health if s["metric"]["__name__"] == "hostvitals_agent_dropped_samples_total"
    ]
    assert all(newest(s) == 0 for s in dropped), dropped
    errors = [
        s for s in health if s["metric"]["__name__"] == "hostvitals_agent_sampler_errors_total"
    ]
    assert {s["metric"]["sampler"]: newest(s) for s in errors}["smart"] == 0
    assert "dropping row" not in agent.log_tail(lines=100_000)
