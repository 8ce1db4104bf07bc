"""smartctl's JSON (smartmontools 7.0 or later) turned into rows, under smartctl_exporter's
names; pure, so it is tested on literal output.

``smartctl --scan-open --json`` lists the disks (``devices``: ``name``, ``type``,
``protocol``, and ``open_error`` for one it could not open). ``smartctl --json --info
--health --attributes --nocheck=standby,3 -d TYPE NAME`` reads one: the identity, the overall
health check (``smart_status.passed``), ``temperature``, ``power_on_time``,
``power_cycle_count``, the ATA attribute table and the NVMe health log.

smartctl's exit status is a bitmask. Bits 0 and 1 mean smartctl could not do its work (the
command line did not parse; the device could not be opened or identified); ``-n standby,3``
makes a disk that is asleep, and was left alone, exit with 3, which no failure gives (a
command line that does not parse exits with 1 before anything else). Bit 2 says some command
failed and the output is partial. Bits 3 to 7 are findings about the disk (failing, prefail
attributes at threshold now or in the past, errors in the error and self-test logs): the
output is complete and the status itself is reported as
``smartctl_device_smartctl_exit_status``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from hostvitals.agent.samplers.base import Labels, Row, labels

STANDBY_STATUS = 3
"""The exit status asked for with ``--nocheck=standby,3`` when a disk sleeps."""

CANNOT_PARSE = 1 << 0
CANNOT_OPEN = 1 << 1
COMMAND_FAILED = 1 << 2
DISK_FAILING = 1 << 3
PREFAIL_NOW = 1 << 4
FINDINGS = {
    DISK_FAILING: "SMART says the disk is failing",
    PREFAIL_NOW: "prefailure attributes are at or below their threshold",
}
"""Exit-status bits worth a warning in the log (the others are in the exit-status series)."""

ATTRIBUTES = {
    5: "Reallocated_Sector_Ct",
    187: "Reported_Uncorrect",
    197: "Current_Pending_Sector",
    198: "Offline_Uncorrectable",
    199: "UDMA_CRC_Error_Count",
}
"""The ATA attributes whose raw values predict a failing disk; the rest are not sent."""

MAX_LABEL = 128
"""Longest label value taken from a device's own strings."""

_DEV_PREFIX = re.compile(r"^/dev/(?:disk/by-id/|disk/by-path/)?")


class SmartOutputError(ValueError):
    """smartctl printed something that is not its JSON."""


class Outcome(StrEnum):
    READ = "read"
    STANDBY = "standby"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Disk:
    """One disk of ``--scan-open``: how to address it again."""

    name: str
    type: str
    protocol: str = ""
    open_error: str = ""

    @property
    def label(self) -> str:
        """The ``device`` label as smartctl_exporter builds it: ``/dev/sda`` is ``sda``,
        ``/dev/bus/0`` behind ``-d megaraid,1`` is ``bus_0_megaraid_1``.

        >>> Disk("/dev/disk/by-id/ata-X", "sat").label
        'ata-X'
        """
        name = _DEV_PREFIX.sub("", self.name).replace("/", "_")
        if "," in self.type:
            return f"{name}_{self.type.replace(',', '_')}"
        return name


@dataclass(frozen=True, slots=True)
class Reading:
    """What one run of smartctl on a disk gave: the rows, and what to say about it."""

    outcome: Outcome
    rows: list[Row]
    problem: str = ""
    """Why the disk was not read (``FAILED``), or what it says about itself (``READ``)."""


def _json(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        first = text.strip().splitlines()[0][:200] if text.strip() else "nothing"
        message = f"smartctl did not print JSON ({exc}); it printed: {first}"
        raise SmartOutputError(message) from None
    if not isinstance(data, dict):
        raise SmartOutputError("smartctl printed JSON that is not an object")
    return data


def _text(value: Any) -> str:
    return str(value).strip()[:MAX_LABEL] if isinstance(value, str | int | float) else ""


def _number(value: Any) -> int | float | None:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return value
    return None


def _messages(data: Mapping[str, Any]) -> list[str]:
    smartctl = data.get("smartctl")
    found = smartctl.get("messages") if isinstance(smartctl, dict) else None
    if not isinstance(found, list):
        return []
    return [_text(m.get("string")) for m in found if isinstance(m, dict) and m.get("string")]


def parse_scan(text: str) -> list[Disk]:
    """The disks ``smartctl --scan-open --json`` found, in its order."""
    devices = _json(text).get("devices", [])
    if not isinstance(devices, list):
        raise SmartOutputError("smartctl's scan has no list of devices")
    disks = []
    for entry in devices:
        if isinstance(entry, dict) and isinstance(entry.get("name"), str):
            disks.append(
                Disk(
                    entry["name"],
                    _text(entry.get("type")),
                    _text(entry.get("protocol")),
                    _text(entry.get("open_error")),
                )
            )
    return disks


def _identity(device: str, data: Mapping[str, Any]) -> Row:
    found = data.get("device")
    dev: Mapping[str, Any] = found if isinstance(found, dict) else {}
    model = data.get("model_name") or data.get("scsi_model_name") or "unknown"
    return (
        "smartctl_device",
        labels(
            device=device,
            interface=_text(dev.get("type")),
            protocol=_text(dev.get("protocol")),
            model_family=_text(data.get("model_family")) or "unknown",
            model_name=_text(model) or "unknown",
            serial_number=_text(data.get("serial_number")),
            firmware_version=_text(data.get("firmware_version")),
        ),
        1,
    )


def _health(where: Labels, data: Mapping[str, Any], status: int) -> list[Row]:
    rows: list[Row] = []
    smart_status = data.get("smart_status")
    passed = smart_status.get("passed") if isinstance(smart_status, dict) else None
    if isinstance(passed, bool):
        rows.append(("smartctl_device_smart_status", where, int(passed)))
    elif status & DISK_FAILING:
        rows.append(("smartctl_device_smart_status", where, 0))
    temperatures = data.get("temperature")
    if isinstance(temperatures, dict):
        for kind, value in temperatures.items():
            number = _number(value)
            if number is not None and not isinstance(value, bool):
                temp_where = (*where, ("temperature_type", _text(kind)))
                rows.append(("smartctl_device_temperature", temp_where, number))
    power_on = data.get("power_on_time")
    if isinstance(power_on, dict):
        hours = _number(power_on.get("hours")) or 0
        minutes = _number(power_on.get("minutes")) or 0
        rows.append(("smartctl_device_power_on_seconds", where, hours * 3600 + minutes * 60))
    cycles = _number(data.get("power_cycle_count"))
    if cycles is None:
        counter = data.get("scsi_start_stop_cycle_counter")
        if isinstance(counter, dict):
            cycles = _number(counter.get("accumulated_start_stop_cycles"))
    if cycles is not None:
        rows.append(("smartctl_device_power_cycle_count", where, cycles))
    return rows


def _ata_attributes(device: str, data: Mapping[str, Any]) -> list[Row]:
    table = data.get("ata_smart_attributes")
    entries = table.get("table") if isinstance(table, dict) else None
    rows: list[Row] = []
    for entry in entries if isinstance(entries, list) else []:
        number = entry.get("id") if isinstance(entry, dict) else None
        if not isinstance(number, int) or number not in ATTRIBUTES:
            continue
        raw = entry.get("raw")
        value = _number(raw.get("value")) if isinstance(raw, dict) else None
        if value is not None:
            name = _text(entry.get("name")) or ATTRIBUTES[number]
            where = labels(
                device=device,
                attribute_id=str(number),
                attribute_name=name,
                attribute_value_type="raw",
            )
            rows.append(("smartctl_device_attribute", where, value))
    return rows


_NVME = (
    ("percentage_used", "smartctl_device_percentage_used"),
    ("available_spare", "smartctl_device_available_spare"),
    ("critical_warning", "smartctl_device_critical_warning"),
    ("media_errors", "smartctl_device_media_errors"),
)


def _nvme(where: Labels, data: Mapping[str, Any]) -> list[Row]:
    log = data.get("nvme_smart_health_information_log")
    if not isinstance(log, dict):
        return []
    rows: list[Row] = []
    for key, metric in _NVME:
        value = _number(log.get(key))
        if value is not None:
            rows.append((metric, where, value))
    return rows


def parse_device(device: str, text: str, status: int) -> Reading:
    """The rows of one disk's ``smartctl --json`` output and exit ``status``.

    ``device`` is the disk's label. A sleeping disk gives only its standby and exit-status
    rows; a run that failed (bit 0 or 1, other than standby) gives only the exit status.
    Raises ``SmartOutputError`` when the output is not smartctl's JSON.
    """
    data = _json(text)
    where = labels(device=device)
    exit_row: Row = ("smartctl_device_smartctl_exit_status", where, status)
    if status == STANDBY_STATUS:
        return Reading(Outcome.STANDBY, [("hostvitals_smart_device_standby", where, 1), exit_row])
    if status & (CANNOT_PARSE | CANNOT_OPEN):
        said = "; ".join(_messages(data)) or "no message"
        return Reading(Outcome.FAILED, [exit_row], f"smartctl exit status {status}: {said}")
    rows: list[Row] = [
        _identity(device, data),
        exit_row,
        ("hostvitals_smart_device_standby", where, 0),
        *_health(where, data, status),
        *_ata_attributes(device, data),
        *_nvme(where, data),
    ]
    findings = [text for bit, text in FINDINGS.items() if status & bit]
    problem = f"{', '.join(findings)} (smartctl exit status {status})" if findings else ""
    return Reading(Outcome.READ, rows, problem)
