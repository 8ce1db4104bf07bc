"""Disk health from SMART, through ``smartctl --json`` (smartmontools 7.0 or later), under
smartctl_exporter's names (``hostvitals.agent.samplers.smart_parse`` turns the JSON into rows).

SMART is slow (tens to hundreds of milliseconds a disk, seconds for one that struggles) and
asking a sleeping disk wakes it, so the disks are looked at only every ``interval`` (5 minutes
by default), in a thread of the sampler's own, never in a tick: ``collect`` only starts a look
when one is due and hands out the rows of the last one that finished, once. Every call of
smartctl has a ``timeout``; a disk that does not answer in time is skipped for that look and
counted. Each disk is read with ``--nocheck=standby`` and its own ``-d TYPE``, so one that
sleeps is left asleep (``hostvitals_smart_device_standby`` is 1) and smartctl's type
detection cannot spin it up either.

The disks come from ``smartctl --scan-open --json``, looked at again every
``rediscover_every`` looks (an hour by default); at most ``max_devices`` are reported. Without
smartctl, or when it finds no disk it can open (it needs root, or CAP_SYS_RAWIO and
CAP_SYS_ADMIN), the sampler says so once and stays off until the agent restarts or a reload
builds the samplers anew.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from hostvitals.agent.samplers.base import NO_LABELS, Row
from hostvitals.agent.samplers.health import SamplerHealth
from hostvitals.agent.samplers.smart_parse import (
    STANDBY_STATUS,
    Disk,
    Outcome,
    SmartOutputError,
    parse_device,
    parse_scan,
)

log = logging.getLogger(__name__)

COMMAND = "smartctl"
SCAN_ARGS = ("--scan-open", "--json")
READ_ARGS = ("--json", "--info", "--health", "--attributes", f"--nocheck=standby,{STANDBY_STATUS}")
DEFAULT_INTERVAL_S = 300.0
DEFAULT_TIMEOUT_S = 10.0
MAX_DEVICES = 32
REDISCOVER_EVERY = 12
NEEDS = "smartctl needs root, or CAP_SYS_RAWIO and CAP_SYS_ADMIN"


@dataclass(frozen=True, slots=True)
class Run:
    status: int
    stdout: str


Runner = Callable[[str, Sequence[str], float], Run]
Starter = Callable[[Callable[[], None]], None]


def run_smartctl(executable: str, args: Sequence[str], timeout_s: float) -> Run:
    """Run smartctl once; raises ``subprocess.TimeoutExpired`` (the process is killed)."""
    done = subprocess.run(
        [executable, *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        errors="replace",
        timeout=timeout_s,
        check=False,
    )
    return Run(done.returncode, done.stdout)


def start_thread(target: Callable[[], None]) -> None:
    threading.Thread(target=target, name="hostvitals-smart", daemon=True).start()


class SmartSampler:
    name = "smart"

    def __init__(
        self,
        *,
        interval_s: float = DEFAULT_INTERVAL_S,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_devices: int = MAX_DEVICES,
        rediscover_every: int = REDISCOVER_EVERY,
        command: str = COMMAND,
        run: Runner = run_smartctl,
        start: Starter = start_thread,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.health = SamplerHealth(self.name, log)
        self._interval = interval_s
        self._timeout = timeout_s
        self._max = max_devices
        self._every = rediscover_every
        self._command = command
        self._run = run
        self._start = start
        self._clock = clock
        self._lock = threading.Lock()
        self._ready: list[Row] = []
        self._failure: Exception | None = None
        self._running = False
        self._next_at: float | None = None
        # Touched only by the look in progress (one at a time).
        self._executable: str | None = None
        self._disks: list[Disk] | None = None
        self._found = 0
        self._off = False
        self._looks = 0

    def stats_rows(self) -> list[Row]:
        return self.health.rows()

    def collect(self) -> list[Row]:
        """The rows of the look that finished since the last call; starts the next look when
        it is due. Never waits for smartctl."""
        now = self._clock()
        with self._lock:
            rows, self._ready = self._ready, []
            failure, self._failure = self._failure, None
            due = not (self._running or self._off) and (
                self._next_at is None or now >= self._next_at
            )
            if due:
                self._running = True
                self._next_at = now + self._interval
        if due:
            try:
                self._start(self._look_in_background)
            except Exception:
                with self._lock:
                    self._running = False
                raise
        if failure is not None:
            raise failure  # the registry counts and logs it as this sampler's error
        return rows

    def _look_in_background(self) -> None:
        try:
            rows = self.look()
        except Exception as exc:
            with self._lock:
                self._failure, self._running = exc, False
            return
        with self._lock:
            self._ready, self._running = rows, False

    def look(self) -> list[Row]:
        """Read every disk once, in the calling thread; the rows."""
        if self._off:
            return []
        if self._disks is None or self._looks % self._every == 0:
            self._discover()
            if self._off:
                return []
        self._looks += 1
        rows: list[Row] = [("smartctl_devices", NO_LABELS, self._found)]
        for disk in self._disks or ():
            rows.extend(self._read(disk))
        return rows

    def _discover(self) -> None:
        first = self._disks is None
        executable = shutil.which(self._command)
        if executable is None:
            self._give_up(first, "no_smartctl", f"{self._command} not found (smartmontools)")
            return
        self._executable = executable
        try:
            disks = parse_scan(self._run(executable, SCAN_ARGS, self._timeout).stdout)
        except subprocess.TimeoutExpired:
            why = f"smartctl --scan-open did not finish within {self._timeout:g} s"
            self._give_up(first, "scan_failed", why)
            return
        except (OSError, SmartOutputError) as exc:
            self._give_up(first, "scan_failed", f"smartctl --scan-open failed: {exc}")
            return
        usable: dict[str, Disk] = {}
        for disk in disks:
            if disk.open_error:
                self.health.error("open_failed")
                self.health.say_once(
                    disk.name,
                    logging.WARNING,
                    "SMART: %s not read: %s (%s)",
                    disk.name,
                    disk.open_error,
                    NEEDS,
                )
            else:
                usable.setdefault(disk.label, disk)
        if first and not usable:
            if disks:
                what = f"smartctl cannot open any disk ({disks[0].name}: {disks[0].open_error}); "
                self._give_up(first, "no_access", what + NEEDS)
            else:
                self._give_up(first, "no_devices", "smartctl found no disks")
            return
        self.health.available()
        kept = sorted(usable.values(), key=lambda disk: disk.label)
        self.health.capped(max(0, len(kept) - self._max), self._max, "disks")
        self._disks = kept[: self._max]
        self._found = len(disks)

    def _give_up(self, first: bool, reason: str, message: str) -> None:
        """At the first look the sampler turns off; later, the disks found before are kept."""
        if first:
            self._off = True
            self.health.unavailable(reason, message)
        else:
            self.health.error(reason)
            why = "SMART: the disks found before are kept: %s"
            self.health.say_once(reason, logging.WARNING, why, message)

    def _read(self, disk: Disk) -> list[Row]:
        assert self._executable is not None
        device = disk.label
        device_type = (f"--device={disk.type}",) if disk.type else ()
        args = (*READ_ARGS, *device_type, disk.name)
        try:
            run = self._run(self._executable, args, self._timeout)
        except subprocess.TimeoutExpired:
            return self._failed(disk, "timeout", f"no answer within {self._timeout:g} s")
        except OSError as exc:
            return self._failed(disk, "exec_failed", str(exc))
        if run.status < 0:
            return self._failed(disk, "signal", f"smartctl was killed by signal {-run.status}")
        try:
            reading = parse_device(device, run.stdout, run.status)
        except SmartOutputError as exc:
            return self._failed(disk, "bad_output", str(exc))
        if reading.outcome is Outcome.FAILED:
            self._failed(disk, "failed", reading.problem)
            return reading.rows
        self.health.forget((device, "failure"))
        if reading.problem:
            key, why = (device, "finding"), "SMART: %s (%s): %s"
            self.health.say_once(key, logging.WARNING, why, disk.name, device, reading.problem)
        elif reading.outcome is Outcome.READ:
            self.health.forget((device, "finding"))
        return reading.rows

    def _failed(self, disk: Disk, reason: str, why: str) -> list[Row]:
        self.health.error(reason)
        key = (disk.label, "failure")
        self.health.say_once(key, logging.WARNING, "SMART: %s not read: %s", disk.name, why)
        return []
