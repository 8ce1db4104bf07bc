"""Systemd units in trouble: ``node_systemd_unit_state{name,state,type}`` (value 1) for every
failed unit and every unit still activating, and ``node_systemd_units{state}``, the number of
units in each active state, as node_exporter's systemd collector names them.

The list comes from ``systemctl list-units --all --plain --no-legend --full``, the same
machine-readable columns every systemd since long has printed (UNIT LOAD ACTIVE SUB
DESCRIPTION), once per ``interval`` (30 s by default: a unit that failed stays failed). With
``all_units`` every loaded unit gets its state row, which costs a series per unit.
On a host where systemd is not the init system (``/run/systemd/system`` is missing: a
container, a non-systemd distribution) the sampler says once that it is disabled and
reports nothing.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from hostvitals.agent.samplers.base import Row, labels
from hostvitals.agent.samplers.paths import HostPaths

log = logging.getLogger(__name__)

STATE = "node_systemd_unit_state"
UNITS = "node_systemd_units"
ACTIVE_STATES = ("active", "reloading", "inactive", "failed", "activating", "deactivating")
TROUBLE = frozenset({"failed", "activating"})
MAX_UNITS = 200
"""Most unit rows one collection sends; beyond it, a warning once."""
COMMAND = ("systemctl", "list-units", "--all", "--plain", "--no-legend", "--no-pager", "--full")
TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class Unit:
    name: str
    load: str
    active: str
    sub: str

    @property
    def type(self) -> str:
        return self.name.rsplit(".", 1)[1] if "." in self.name else ""


def parse_units(text: str) -> list[Unit]:
    """The units of ``systemctl list-units --plain --no-legend`` output; short lines (a
    footer, a blank) are skipped.

    >>> parse_units("nginx.service loaded failed failed A high performance web server\\n")
    [Unit(name='nginx.service', load='loaded', active='failed', sub='failed')]
    """
    units = []
    for line in text.splitlines():
        fields = line.lstrip(" ●*").split(None, 4)
        if len(fields) >= 4 and "." in fields[0]:
            units.append(Unit(fields[0], fields[1], fields[2], fields[3]))
    return units


def rows_from_units(units: list[Unit], *, all_units: bool, limit: int = MAX_UNITS) -> list[Row]:
    """State rows of the units in trouble (of every loaded unit with ``all_units``) and the
    count per active state; returns at most ``limit`` state rows, failed ones first."""
    counts = Counter(unit.active for unit in units)
    rows: list[Row] = [(UNITS, labels(state=s), counts.get(s, 0)) for s in ACTIVE_STATES]
    picked = [u for u in units if u.active in TROUBLE or (all_units and u.load == "loaded")]
    picked.sort(key=lambda u: (u.active != "failed", u.active != "activating", u.name))
    for unit in picked[:limit]:
        rows.append((STATE, labels(name=unit.name, state=unit.active, type=unit.type), 1))
    return rows


def run_systemctl() -> str:
    done = subprocess.run(COMMAND, capture_output=True, text=True, timeout=TIMEOUT_S, check=True)
    return done.stdout


class UnitsSampler:
    name = "units"

    def __init__(
        self,
        paths: HostPaths | None = None,
        *,
        all_units: bool = False,
        run: Callable[[], str] | None = None,
    ) -> None:
        self._paths = paths or HostPaths()
        self._all = all_units
        self._run = run or run_systemctl
        self._enabled: bool | None = None
        self._said_limit = False

    def _available(self) -> bool:
        if self._enabled is None:
            booted = self._paths.root("run/systemd/system").is_dir()
            tool = self._run is not run_systemctl or shutil.which("systemctl") is not None
            self._enabled = booted and tool
            if not self._enabled:
                why = "systemd is not the init system" if not booted else "no systemctl"
                log.info("systemd units not reported: %s", why)
        return self._enabled

    def collect(self) -> list[Row]:
        if not self._available():
            return []
        units = parse_units(self._run())
        rows = rows_from_units(units, all_units=self._all)
        shown = sum(1 for metric, _, _ in rows if metric == STATE)
        wanted = sum(1 for u in units if u.active in TROUBLE or (self._all and u.load == "loaded"))
        if wanted > shown and not self._said_limit:
            self._said_limit = True
            log.warning("%d systemd units not reported: at most %d are", wanted - shown, shown)
        return rows
