"""The catalogue follows the Prometheus naming conventions and node_exporter's labels."""

from __future__ import annotations

import re

import pytest

from hostvitals.shared import catalogue
from hostvitals.shared.catalogue import CATALOGUE, HOST_LABEL, Kind, MetricSpec

SPECS = list(CATALOGUE.values())
NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
NODE_EXPORTER_UNSUFFIXED = ("node_netstat_",)
"""node_exporter exposes these kernel counters untyped, under the kernel's field names."""


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_names_follow_prometheus_conventions(spec: MetricSpec) -> None:
    assert NAME_RE.fullmatch(spec.name)
    if spec.kind is Kind.COUNTER and spec.name.startswith(NODE_EXPORTER_UNSUFFIXED):
        assert not spec.name.endswith("_total"), "node_exporter's own name is kept"
    elif spec.kind is Kind.COUNTER:
        assert spec.name.endswith("_total"), "counters end in _total"
    else:
        assert not spec.name.endswith("_total"), "only counters end in _total"
    if spec.unit == "bytes":
        assert "_bytes" in spec.name
    if spec.unit == "seconds":
        assert "_seconds" in spec.name
    if spec.name.endswith("_ratio"):
        assert spec.kind is Kind.GAUGE


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_labels_are_valid_and_never_the_reserved_host(spec: MetricSpec) -> None:
    assert all(LABEL_RE.fullmatch(label) and not label.startswith("__") for label in spec.labels)
    assert HOST_LABEL not in spec.labels
    assert len(set(spec.labels)) == len(spec.labels)
    assert spec.help and spec.group


def test_node_exporter_label_names_are_reused() -> None:
    assert CATALOGUE["node_cpu_seconds_total"].labels == ("cpu", "mode")
    assert CATALOGUE["node_filesystem_avail_bytes"].labels == ("device", "mountpoint", "fstype")
    assert CATALOGUE["node_network_receive_bytes_total"].labels == ("device",)
    assert CATALOGUE["node_disk_read_bytes_total"].labels == ("device",)


def test_every_group_the_agent_samples_is_present() -> None:
    assert set(catalogue.groups()) == {
        "cpu",
        "load",
        "memory",
        "disk",
        "filesystem",
        "network",
        "pressure",
        "system",
        "sensors",
        "cgroups",
        "units",
        "sockets",
        "info",
        "processes",
        "smart",
        "gpu",
        "agent",
    }
    assert all(s.group == "network" for s in catalogue.metrics_of("network"))


def test_the_optional_device_series_keep_their_exporters_names_and_labels() -> None:
    # smartctl_exporter's and dcgm-exporter's names, so their dashboards and alerts carry over
    assert CATALOGUE["smartctl_device_temperature"].labels == ("device", "temperature_type")
    assert CATALOGUE["smartctl_device_smart_status"].labels == ("device",)
    gpu = {s.name for s in catalogue.metrics_of("gpu")}
    assert gpu == {
        "DCGM_FI_DEV_GPU_UTIL",
        "DCGM_FI_DEV_FB_USED",
        "DCGM_FI_DEV_FB_FREE",
        "DCGM_FI_DEV_GPU_TEMP",
        "DCGM_FI_DEV_POWER_USAGE",
    }
    assert all(
        CATALOGUE[name].labels == ("gpu", "UUID", "pci_bus_id", "device", "modelName")
        for name in gpu
    )


def test_info_series_say_what_in_labels() -> None:
    infos = [s for s in SPECS if s.name.endswith("_info")]
    assert {s.name for s in infos} == {
        "node_uname_info",
        "node_os_info",
        "hostvitals_cpu_info",
        "hostvitals_virtualization_info",
        "hostvitals_agent_build_info",
        "hostvitals_container_info",
    }
    assert all(s.kind is Kind.GAUGE and s.labels for s in infos)
    assert {s.group for s in infos} == {"info", "cgroups"}
