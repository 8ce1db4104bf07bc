"""smartctl's JSON into rows, on literal output of smartmontools 7.4 and 7.5
(``tests/fixtures/smartctl``): an ATA disk, an NVMe drive, a disk asleep, a failing disk, a
disk that could not be opened, and the scan with and without access to the disks."""

from __future__ import annotations

from pathlib import Path

import pytest

from hostvitals.agent.samplers.base import Labels, Row
from hostvitals.agent.samplers.smart_parse import (
    Disk,
    Outcome,
    SmartOutputError,
    parse_device,
    parse_scan,
)
from hostvitals.shared.catalogue import CATALOGUE

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "smartctl"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def by_series(rows: list[Row]) -> dict[tuple[str, Labels], float | int]:
    series = {(metric, labels): value for metric, labels, value in rows}
    assert len(series) == len(rows), "a series appears twice"
    return series


def dev(name: str) -> Labels:
    return (("device", name),)


def attribute(device: str, number: int, name: str) -> tuple[str, Labels]:
    where = (
        ("device", device),
        ("attribute_id", str(number)),
        ("attribute_name", name),
        ("attribute_value_type", "raw"),
    )
    return ("smartctl_device_attribute", where)


def test_the_scan_lists_each_disk_with_its_type() -> None:
    disks = parse_scan(fixture("scan.json"))
    assert [(d.name, d.type, d.protocol) for d in disks] == [
        ("/dev/sda", "sat", "ATA"),
        ("/dev/sdb", "sat", "ATA"),
        ("/dev/sdc", "sat", "ATA"),
        ("/dev/nvme0", "nvme", "NVMe"),
    ]
    assert not any(d.open_error for d in disks)
    denied = parse_scan(fixture("scan-no-access.json"))
    assert [d.open_error for d in denied] == ["Permission denied", "Permission denied"]


def test_device_labels_follow_smartctl_exporter() -> None:
    assert Disk("/dev/sda", "sat").label == "sda"
    assert Disk("/dev/nvme0", "nvme").label == "nvme0"
    assert Disk("/dev/bus/0", "megaraid,1").label == "bus_0_megaraid_1"
    assert Disk("/dev/disk/by-id/ata-WDC_WD40EFRX", "sat").label == "ata-WDC_WD40EFRX"


def test_a_healthy_ata_disk() -> None:
    reading = parse_device("sda", fixture("sda.json"), 0)
    assert reading.outcome is Outcome.READ and reading.problem == ""
    rows = by_series(reading.rows)
    info = [labels for metric, labels in rows if metric == "smartctl_device"]
    assert [dict(labels) for labels in info] == [
        {
            "device": "sda",
            "interface": "sat",
            "protocol": "ATA",
            "model_family": "Western Digital Red",
            "model_name": "WDC WD40EFRX-68N32N0",
            "serial_number": "WD-WCC7K3PL1234",
            "firmware_version": "82.00A82",
        }
    ]
    assert rows[("smartctl_device_smart_status", dev("sda"))] == 1
    assert rows[("smartctl_device_smartctl_exit_status", dev("sda"))] == 0
    assert rows[("hostvitals_smart_device_standby", dev("sda"))] == 0
    current = ("smartctl_device_temperature", (*dev("sda"), ("temperature_type", "current")))
    assert rows[current] == 32
    assert rows[("smartctl_device_power_on_seconds", dev("sda"))] == 28123 * 3600
    assert rows[("smartctl_device_power_cycle_count", dev("sda"))] == 41
    # Only the five attributes that predict failure, by raw value.
    attributes = {labels for metric, labels in rows if metric == "smartctl_device_attribute"}
    assert {dict(labels)["attribute_id"] for labels in attributes} == {"5", "197", "198", "199"}
    assert rows[attribute("sda", 199, "UDMA_CRC_Error_Count")] == 2
    assert not any(metric.startswith("smartctl_device_percentage") for metric, _ in rows)


def test_an_nvme_drive_reports_its_health_log() -> None:
    reading = parse_device("nvme0", fixture("nvme0.json"), 0)
    rows = by_series(reading.rows)
    assert rows[("smartctl_device_percentage_used", dev("nvme0"))] == 3
    assert rows[("smartctl_device_available_spare", dev("nvme0"))] == 100
    assert rows[("smartctl_device_critical_warning", dev("nvme0"))] == 0
    assert rows[("smartctl_device_media_errors", dev("nvme0"))] == 0
    assert rows[("smartctl_device_smart_status", dev("nvme0"))] == 1
    assert rows[("smartctl_device_power_on_seconds", dev("nvme0"))] == 9876 * 3600
    info = next(dict(labels) for metric, labels in rows if metric == "smartctl_device")
    assert info["model_family"] == "unknown"  # NVMe drives have none; the exporter says so too
    assert info["model_name"] == "Samsung SSD 980 PRO 1TB"
    assert not any(metric == "smartctl_device_attribute" for metric, _ in rows)


def test_a_sleeping_disk_gives_only_its_standby_and_exit_status() -> None:
    reading = parse_device("sdb", fixture("sdb.json"), 3)
    assert reading.outcome is Outcome.STANDBY
    assert by_series(reading.rows) == {
        ("hostvitals_smart_device_standby", dev("sdb")): 1,
        ("smartctl_device_smartctl_exit_status", dev("sdb")): 3,
    }
    # smartmontools before 7.5 prints no power_mode: the exit status alone says it.
    older = '{"smartctl": {"messages": [{"string": "Device is in STANDBY mode, exit(3)"}]}}'
    assert parse_device("sdb", older, 3).outcome is Outcome.STANDBY


def test_a_failing_disk_is_read_in_full_and_its_findings_named() -> None:
    reading = parse_device("sdc", fixture("sdc.json"), 88)  # bits 3, 4 and 6
    assert reading.outcome is Outcome.READ
    assert reading.problem == (
        "SMART says the disk is failing, prefailure attributes are at or below their "
        "threshold (smartctl exit status 88)"
    )
    rows = by_series(reading.rows)
    assert rows[("smartctl_device_smart_status", dev("sdc"))] == 0
    assert rows[("smartctl_device_smartctl_exit_status", dev("sdc"))] == 88
    assert rows[attribute("sdc", 5, "Reallocated_Sector_Ct")] == 3952
    assert rows[attribute("sdc", 187, "Reported_Uncorrect")] == 466
    assert rows[attribute("sdc", 197, "Current_Pending_Sector")] == 112
    assert rows[("smartctl_device_power_on_seconds", dev("sdc"))] == 55301 * 3600 + 12 * 60


def test_the_failing_bit_without_a_health_section_still_says_failing() -> None:
    text = '{"device": {"type": "sat", "protocol": "ATA"}, "model_name": "X"}'
    rows = by_series(parse_device("sde", text, 8).rows)
    assert rows[("smartctl_device_smart_status", dev("sde"))] == 0


def test_a_disk_that_could_not_be_opened_gives_only_its_exit_status() -> None:
    reading = parse_device("sdd", fixture("sdd-open-failed.json"), 2)
    assert reading.outcome is Outcome.FAILED
    assert reading.rows == [("smartctl_device_smartctl_exit_status", dev("sdd"), 2)]
    assert reading.problem == (
        "smartctl exit status 2: Smartctl open device: /dev/sdd [SAT] failed: No such device"
    )
    # A command line smartctl does not understand (an old one, say) is bit 0.
    assert parse_device("sdd", "{}", 1).outcome is Outcome.FAILED


def test_a_partial_read_bit_2_keeps_what_was_read() -> None:
    reading = parse_device("sda", fixture("sda.json"), 4)
    assert reading.outcome is Outcome.READ and reading.problem == ""
    assert ("smartctl_device_smart_status", dev("sda"), 1) in reading.rows


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "smartctl did not print JSON"),
        ("smartctl 6.6 2017-11-05\n=== START OF INFORMATION SECTION ===", "it printed: smartctl"),
        ("[1, 2]", "not an object"),
    ],
)
def test_output_that_is_not_smartctls_json_is_an_error(text: str, message: str) -> None:
    with pytest.raises(SmartOutputError, match=message):
        parse_device("sda", text, 0)
    with pytest.raises(SmartOutputError):
        parse_scan(text)


def test_strange_values_are_skipped_not_reported() -> None:
    text = (
        '{"temperature": {"current": "hot", "lifetime_max": 51, "flag": true},'
        ' "power_on_time": "long", "ata_smart_attributes": {"table": [{"id": [5]},'
        ' {"id": 5, "raw": {"value": "x"}}]}, "nvme_smart_health_information_log": []}'
    )
    rows = by_series(parse_device("sda", text, 0).rows)
    temperatures = {
        dict(labels)["temperature_type"]: value
        for (metric, labels), value in rows.items()
        if metric == "smartctl_device_temperature"
    }
    assert temperatures == {"lifetime_max": 51}
    assert not any(metric == "smartctl_device_attribute" for metric, _ in rows)


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("sda.json", 0),
        ("nvme0.json", 0),
        ("sdb.json", 3),
        ("sdc.json", 88),
        ("sdd-open-failed.json", 2),
    ],
)
def test_every_row_is_in_the_catalogue_with_its_labels(name: str, status: int) -> None:
    for metric, labels, _ in parse_device("sdx", fixture(name), status).rows:
        assert metric in CATALOGUE, metric
        assert sorted(k for k, _ in labels) == sorted(CATALOGUE[metric].labels), metric
        assert CATALOGUE[metric].group == "smart"
