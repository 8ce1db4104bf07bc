"""Temperatures from ``/sys/class/hwmon`` and ``/sys/class/thermal``, as node_exporter names
them: ``node_hwmon_temp_celsius{chip,sensor}`` (with ``_max`` and ``_crit`` where the chip
states them) and ``node_thermal_zone_temp{type,zone}``.

The sensors a host has do not change while it runs, so the files to read are found once and
looked for again only every ``rediscover_every`` collections; a tick reads just the
``temp*_input`` files. A chip's number (``hwmon3``) depends on the order drivers load, so the
``chip`` label is built from the device path the chip hangs off (``platform_coretemp_0``),
as node_exporter does, and only falls back to the chip's ``name`` file and then its number.
Many chips answer some reads with EIO or ENODATA (a sensor wired to nothing): such a sensor
is skipped for that tick. At most ``max_sensors`` sensors are reported, so a board with a
strange driver cannot flood the collector.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from hostvitals.agent.samplers.base import Labels, Row, labels
from hostvitals.agent.samplers.paths import HostPaths, read_small

log = logging.getLogger(__name__)

MAX_SENSORS = 64
"""Most temperature sensors (hwmon and thermal zones together) one host reports."""

REDISCOVER_EVERY = 300
"""Collections between two looks for new chips (five minutes at a 1 s interval)."""

TEMP = "node_hwmon_temp_celsius"
TEMP_MAX = "node_hwmon_temp_max_celsius"
TEMP_CRIT = "node_hwmon_temp_crit_celsius"
SENSOR_LABEL = "node_hwmon_sensor_label"
ZONE_TEMP = "node_thermal_zone_temp"

_LIMITS = (("max", TEMP_MAX), ("crit", TEMP_CRIT))
_INVALID = re.compile(r"[^a-z0-9:_]")
_TEMP_INPUT = re.compile(r"^(temp\d+)_input$")


def clean_name(raw: str) -> str:
    """A label-safe name, as node_exporter cleans chip names.

    >>> clean_name("Platform coretemp.0\\n")
    'platform_coretemp_0'
    """
    return _INVALID.sub("_", raw.strip().lower()).strip("_")


def chip_name(hwmon_dir: Path, read: Callable[[Path], str] = read_small) -> str:
    """The stable name of one hwmon chip: ``<bus>_<device>`` of the device it belongs to,
    else its ``name`` file, else its directory (``hwmon0``)."""
    try:
        device = Path(os.path.realpath(hwmon_dir / "device", strict=True))
    except OSError:
        device = None
    if device is not None:
        dev_name, dev_type = clean_name(device.name), clean_name(device.parent.name)
        if dev_name and dev_type:
            return f"{dev_type}_{dev_name}"
        if dev_name:
            return dev_name
    try:
        name = clean_name(read(hwmon_dir / "name"))
    except OSError:
        name = ""
    return name or clean_name(Path(os.path.realpath(hwmon_dir)).name) or hwmon_dir.name


def millidegrees(text: str) -> float | None:
    """A sysfs temperature (millidegrees Celsius) in degrees, or None if it is not a number.

    >>> millidegrees("45500\\n")
    45.5
    """
    try:
        return int(text.strip()) / 1000.0
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class Sensor:
    """One file read every tick, with the row it becomes."""

    metric: str
    labels: Labels
    path: Path


@dataclass(frozen=True, slots=True)
class Discovery:
    """What a look at sysfs found: the sensors to read each tick, and the rows read once
    (limits and sensor names change only with the hardware)."""

    sensors: tuple[Sensor, ...]
    fixed: tuple[Row, ...]
    dropped: int


def _dirs(parent: Path, prefix: str) -> list[Path]:
    try:
        names = os.listdir(parent)
    except OSError:
        return []
    return [parent / name for name in sorted(names) if name.startswith(prefix)]


def _temp_channels(hwmon_dir: Path) -> list[str]:
    """``temp1``, ``temp2``, ... of a chip, from its ``temp*_input`` files in number order."""
    try:
        names = os.listdir(hwmon_dir)
    except OSError:
        return []
    found = [m.group(1) for name in names if (m := _TEMP_INPUT.match(name))]
    return sorted(found, key=lambda channel: int(channel[4:]))


def _hwmon(paths: HostPaths, read: Callable[[Path], str]) -> Iterator[tuple[Sensor, list[Row]]]:
    for hwmon_dir in _dirs(paths.sys("class", "hwmon"), "hwmon"):
        chip = chip_name(hwmon_dir, read)
        for channel in _temp_channels(hwmon_dir):
            where = labels(chip=chip, sensor=channel)
            fixed: list[Row] = []
            for suffix, metric in _LIMITS:
                value = _read_temp(hwmon_dir / f"{channel}_{suffix}", read)
                if value is not None:
                    fixed.append((metric, where, value))
            try:
                text = read(hwmon_dir / f"{channel}_label").strip()
            except OSError:
                text = ""
            if text:
                fixed.append((SENSOR_LABEL, (*where, ("label", text)), 1))
            yield Sensor(TEMP, where, hwmon_dir / f"{channel}_input"), fixed


def _zones(paths: HostPaths, read: Callable[[Path], str]) -> Iterator[tuple[Sensor, list[Row]]]:
    for zone_dir in _dirs(paths.sys("class", "thermal"), "thermal_zone"):
        zone = zone_dir.name.removeprefix("thermal_zone")
        try:
            kind = read(zone_dir / "type").strip()
        except OSError:
            continue  # a zone without a type is one the kernel is tearing down
        yield Sensor(ZONE_TEMP, labels(type=kind, zone=zone), zone_dir / "temp"), []


def _read_temp(path: Path, read: Callable[[Path], str]) -> float | None:
    try:
        return millidegrees(read(path))
    except OSError:
        return None


def discover(
    paths: HostPaths, read: Callable[[Path], str] = read_small, max_sensors: int = MAX_SENSORS
) -> Discovery:
    """Every temperature sensor below sysfs, up to ``max_sensors``."""
    sensors: list[Sensor] = []
    fixed: list[Row] = []
    dropped = 0
    for sensor, rows in (*_hwmon(paths, read), *_zones(paths, read)):
        if len(sensors) >= max_sensors:
            dropped += 1
            continue
        sensors.append(sensor)
        fixed.extend(rows)
    return Discovery(tuple(sensors), tuple(fixed), dropped)


class SensorsSampler:
    name = "sensors"

    def __init__(
        self,
        paths: HostPaths | None = None,
        read: Callable[[Path], str] | None = None,
        *,
        max_sensors: int = MAX_SENSORS,
        rediscover_every: int = REDISCOVER_EVERY,
    ) -> None:
        self._paths = paths or HostPaths()
        self._read = read or read_small
        self._max = max_sensors
        self._every = rediscover_every
        self._found: Discovery | None = None
        self._age = 0
        self._said_dropped = 0

    def collect(self) -> list[Row]:
        found = self._discovery()
        rows: list[Row] = list(found.fixed)
        for sensor in found.sensors:
            value = _read_temp(sensor.path, self._read)
            if value is not None:
                rows.append((sensor.metric, sensor.labels, value))
        return rows

    def _discovery(self) -> Discovery:
        if self._found is None or self._age >= self._every:
            self._found = discover(self._paths, self._read, self._max)
            self._age = 0
            if self._found.dropped and self._found.dropped != self._said_dropped:
                log.warning(
                    "%d temperature sensors not reported: at most %d are",
                    self._found.dropped,
                    self._max,
                )
            self._said_dropped = self._found.dropped
        self._age += 1
        return self._found
