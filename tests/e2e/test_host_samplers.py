"""The pressure, system, sockets and info samplers on this machine's real /proc and /sys,
through the real agent, collector and VictoriaMetrics: the series arrive, and their values
agree with what this test reads itself from the same files around the run."""

from __future__ import annotations

import os
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.agent_support import export
from tests.e2e.conftest import StartAgent, StartCollector
from tests.support.processes import VictoriaMetrics, wait_until

pytestmark = pytest.mark.e2e

PROC = Path("/proc")
HAS_PSI = (PROC / "pressure" / "cpu").exists()


def proc_stat() -> dict[str, int]:
    fields = (line.split() for line in (PROC / "stat").read_text().splitlines())
    return {f[0]: int(f[1]) for f in fields if len(f) > 1 and f[1].isdigit()}


def pressure_total(resource: str, kind: str) -> float:
    for line in (PROC / "pressure" / resource).read_text().splitlines():
        if line.startswith(kind + " "):
            return int(line.rsplit("total=", 1)[1]) / 1e6
    raise AssertionError(f"no {kind} line in /proc/pressure/{resource}")


def snmp(protocol: str, field: str) -> int:
    lines = [line.split() for line in (PROC / "net" / "snmp").read_text().splitlines()]
    names, values = [line for line in lines if line[0] == f"{protocol}:"]
    return int(values[names.index(field)])


def os_release_value(key: str) -> str:
    for name in ("/etc/os-release", "/usr/lib/os-release"):
        if Path(name).exists():
            for line in Path(name).read_text().splitlines():
                if line.startswith(key + "="):
                    return line.split("=", 1)[1].strip().strip('"').strip("'")
            return ""
    pytest.skip("this machine has no os-release")


class Readings:
    """The series of one host in VictoriaMetrics: newest value and labels per metric."""

    def __init__(self, vm: VictoriaMetrics, host: str) -> None:
        self.series = export(vm, f'{{host="{host}",__name__=~"node_.*|hostvitals_.*"}}')

    def all(self, metric: str) -> list[dict[str, Any]]:
        return [s for s in self.series if s["metric"]["__name__"] == metric]

    def one(self, metric: str) -> dict[str, Any]:
        found = self.all(metric)
        assert len(found) == 1, f"{metric}: {len(found)} series"
        return found[0]

    def value(self, metric: str) -> float:
        series = self.one(metric)
        return float(max(zip(series["timestamps"], series["values"], strict=True))[1])

    def labels(self, metric: str) -> dict[str, str]:
        labels = dict(self.one(metric)["metric"])
        del labels["__name__"], labels["host"]
        return labels


def test_host_series_arrive_with_the_values_this_machine_has(
    start_collector: StartCollector,
    start_agent: StartAgent,
    host_name: str,
    victoria_metrics: VictoriaMetrics,
) -> None:
    stat_before = proc_stat()
    psi_before = (
        {m: pressure_total(*m) for m in (("cpu", "some"), ("io", "full"))} if HAS_PSI else {}
    )
    opens_before = snmp("Tcp", "ActiveOpens")
    collector = start_collector()
    agent = start_agent(collector.url, host_name, env={"HOSTVITALS_AGENT_FLUSH_INTERVAL": "2"})

    def arrived() -> bool:
        assert agent.running(), agent.log_tail()
        readings = Readings(victoria_metrics, host_name)
        return bool(readings.all("hostvitals_agent_build_info")) and bool(
            readings.all("node_netstat_Tcp_ActiveOpens")
        )

    wait_until(arrived, 60, "the host series", step=1.0)
    got = Readings(victoria_metrics, host_name)
    stat_after = proc_stat()

    # system: /proc/stat, file-nr, entropy
    assert got.value("node_boot_time_seconds") == stat_before["btime"]
    for metric, key in (
        ("node_context_switches_total", "ctxt"),
        ("node_intr_total", "intr"),
        ("node_forks_total", "processes"),
    ):
        assert stat_before[key] <= got.value(metric) <= stat_after[key], metric
    assert 1 <= got.value("node_procs_running") <= (os.cpu_count() or 1) * 64
    assert got.value("node_procs_blocked") >= 0
    allocated, _, maximum = (PROC / "sys" / "fs" / "file-nr").read_text().split()
    assert got.value("node_filefd_maximum") == int(maximum)
    assert abs(got.value("node_filefd_allocated") - int(allocated)) < max(2000, int(allocated) / 2)
    entropy = int((PROC / "sys" / "kernel" / "random" / "entropy_avail").read_text())
    assert got.value("node_entropy_available_bits") == pytest.approx(entropy, abs=256)

    # pressure: counters between this test's own reads before and after
    if HAS_PSI:
        assert len([s for s in got.series if "node_pressure_" in s["metric"]["__name__"]]) == 5
        for (resource, kind), before in psi_before.items():
            metric = f"node_pressure_{resource}_{'waiting' if kind == 'some' else 'stalled'}"
            assert before <= got.value(f"{metric}_seconds_total") <= pressure_total(resource, kind)

    # sockets: the agent's own connections to the collector are among the active opens
    assert opens_before <= got.value("node_netstat_Tcp_ActiveOpens") <= snmp("Tcp", "ActiveOpens")
    assert got.value("node_netstat_Tcp_CurrEstab") >= 1  # at least the agent's connection
    assert got.value("node_sockstat_sockets_used") > 0
    assert got.value("node_sockstat_TCP_inuse") >= 1
    assert got.value("node_sockstat_TCP_mem_bytes") == got.value(
        "node_sockstat_TCP_mem"
    ) * os.sysconf("SC_PAGE_SIZE")
    for metric in ("Tcp_RetransSegs", "Tcp_PassiveOpens", "Udp_InErrors", "TcpExt_ListenDrops"):
        assert got.value(f"node_netstat_{metric}") >= 0

    # info: labels say what this machine is
    uname = os.uname()
    assert got.labels("node_uname_info") == {
        "sysname": uname.sysname,
        "release": uname.release,
        "version": uname.version,
        "machine": uname.machine,
        "nodename": uname.nodename,
    }
    assert got.value("node_uname_info") == 1
    assert got.labels("node_os_info")["id"] == os_release_value("ID")
    assert got.labels("node_os_info").get("version_id", "") == os_release_value("VERSION_ID")
    assert got.labels("hostvitals_agent_build_info") == {"version": version("hostvitals")}
    cpuinfo = (PROC / "cpuinfo").read_text()
    if "model name" in cpuinfo:
        model = cpuinfo.split("model name", 1)[1].split(":", 1)[1].splitlines()[0].strip()
        assert got.labels("hostvitals_cpu_info")["model_name"] == model

    # none of the new samplers failed
    errors = got.all("hostvitals_agent_sampler_errors_total")
    by_sampler = {s["metric"]["sampler"]: max(s["values"]) for s in errors}
    for sampler in ("pressure", "system", "sockets", "sensors", "cgroups", "units", "info"):
        assert by_sampler[sampler] == 0, sampler

    # the host page's pressure, system and sensors charts: the history API answers them
    def history(family: str) -> dict[str, int]:
        now = time.time()
        answer = requests.get(
            f"{collector.url}/api/v1/metrics/{family}",
            params={"host": host_name, "start": now - 300, "end": now, "step": 5},
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        series = answer.json()["data"]["series"]
        return {s["name"]: sum(1 for p in s["points"] if p[1] is not None) for s in series}

    # Rates need two samples in their window: wait for the first ones.
    wanted = ("context_switches_per_second", "procs_running", "filefd_used_ratio")
    wait_until(
        lambda: all(history("system").get(name, 0) > 0 for name in wanted),
        60,
        "the system family's history",
        step=1.0,
    )
    if HAS_PSI:
        wait_until(
            lambda: all(
                history("pressure").get(name, 0) > 0
                for name in ("cpu_waiting_ratio", "io_stalled_ratio")
            ),
            30,
            "the pressure family's history",
            step=1.0,
        )
    sensors = history("sensors")
    if not list(Path("/sys/class/hwmon").glob("hwmon*/temp*_input")):
        assert sensors.get("temperature_celsius", 0) == 0, sensors
