"""The SMART sampler against a stand-in ``smartctl`` (``tests.support.smartctl``): a real
executable on PATH, so timeouts, exit statuses and a missing binary are those of a real
process. The looks run in the calling thread (``look``) or in a thread the test joins; the
interval follows a fake clock. Last, smartmontools' own smartctl, where it is installed."""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from hostvitals.agent.samplers.base import Labels, Row
from hostvitals.agent.samplers.smart import (
    READ_ARGS,
    SCAN_ARGS,
    Run,
    SmartSampler,
    run_smartctl,
)
from hostvitals.agent.samplers.smart_parse import (
    CANNOT_OPEN,
    CANNOT_PARSE,
    Outcome,
    parse_device,
    parse_scan,
)
from tests.support.smartctl import FakeSmartctl

LOGGER = "hostvitals.agent.samplers.smart"


@pytest.fixture
def smartctl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeSmartctl:
    fake = FakeSmartctl(tmp_path)
    monkeypatch.setenv("PATH", fake.search_path())
    return fake


def by_series(rows: list[Row]) -> dict[tuple[str, Labels], float | int]:
    return {(metric, labels): value for metric, labels, value in rows}


def devices(rows: list[Row]) -> set[str]:
    return {value for _, labels, _ in rows for name, value in labels if name == "device"}


def stats(sampler: SmartSampler) -> dict[tuple[str, Labels], float | int]:
    return by_series(sampler.stats_rows())


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER]


def dev(name: str) -> Labels:
    return (("device", name),)


def unavailable(reason: str) -> tuple[str, Labels]:
    return ("hostvitals_agent_sampler_unavailable", (("sampler", "smart"), ("reason", reason)))


def errors(reason: str) -> tuple[str, Labels]:
    return ("hostvitals_agent_device_read_errors_total", (("sampler", "smart"), ("reason", reason)))


CAPPED = ("hostvitals_agent_sampler_capped", (("sampler", "smart"),))
SDA_GONE = """{
  "json_format_version": [1, 0],
  "smartctl": {
    "version": [7, 4],
    "argv": ["smartctl", "--json", "--info", "--health", "--device=sat", "/dev/sda"],
    "messages": [
      {"string": "Smartctl open device: /dev/sda [SAT] failed: No such device", "severity": "error"}
    ],
    "exit_status": 2
  }
}"""


def test_a_look_reads_every_disk_with_its_type_and_leaves_sleepers_asleep(
    smartctl: FakeSmartctl, caplog: pytest.LogCaptureFixture
) -> None:
    smartctl.a_host()
    sampler = SmartSampler(timeout_s=20)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        rows = by_series(sampler.look())
        sampler.look()
    assert rows[("smartctl_devices", ())] == 4
    assert rows[("smartctl_device_smart_status", dev("sda"))] == 1
    assert rows[("smartctl_device_smart_status", dev("sdc"))] == 0
    assert rows[("smartctl_device_smartctl_exit_status", dev("sdc"))] == 88
    assert rows[("hostvitals_smart_device_standby", dev("sdb"))] == 1
    assert rows[("smartctl_device_percentage_used", dev("nvme0"))] == 3
    asleep = [key for key in rows if key[1][:1] == dev("sdb")]
    assert sorted(metric for metric, _ in asleep) == [
        "hostvitals_smart_device_standby",
        "smartctl_device_smartctl_exit_status",
    ]
    read = "--json --info --health --attributes --nocheck=standby,3"
    each_look = [
        f"{read} --device=nvme /dev/nvme0",
        f"{read} --device=sat /dev/sda",
        f"{read} --device=sat /dev/sdb",
        f"{read} --device=sat /dev/sdc",
    ]
    # one scan, then the same disks at each look
    assert smartctl.calls() == ["--scan-open --json", *each_look, *each_look]
    # The failing disk is said once, not at every look.
    assert messages(caplog) == [
        "SMART: /dev/sdc (sdc): SMART says the disk is failing, prefailure attributes are at "
        "or below their threshold (smartctl exit status 88)"
    ]
    assert stats(sampler) == {CAPPED: 0}


def test_the_disks_are_looked_for_again_every_rediscover_every_looks(
    smartctl: FakeSmartctl,
) -> None:
    smartctl.answer("scan")
    for name in ("sda", "sdb", "sdc", "nvme0"):
        smartctl.answer(name, "sda.json")
    sampler = SmartSampler(rediscover_every=2)
    for _ in range(3):
        sampler.look()
    scans = [call for call in smartctl.calls() if call.startswith("--scan-open")]
    assert len(scans) == 2  # looks 1 and 3


def test_without_smartctl_it_says_so_once_and_runs_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    sampler = SmartSampler()
    with caplog.at_level(logging.INFO, logger=LOGGER):
        assert sampler.look() == []
        assert sampler.look() == []
    assert messages(caplog) == ["smart not reported: smartctl not found (smartmontools)"]
    assert stats(sampler)[unavailable("no_smartctl")] == 1


def test_without_access_to_any_disk_it_says_what_it_needs_once(
    smartctl: FakeSmartctl, caplog: pytest.LogCaptureFixture
) -> None:
    smartctl.answer("scan", "scan-no-access.json")
    sampler = SmartSampler()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert sampler.look() == []
        assert sampler.look() == []
    assert smartctl.calls() == ["--scan-open --json"]  # off after the first look
    said = [m for m in messages(caplog) if m.startswith("smart not reported")]
    assert said == [
        "smart not reported: smartctl cannot open any disk (/dev/sda: Permission denied); "
        "smartctl needs root, or CAP_SYS_RAWIO and CAP_SYS_ADMIN"
    ]
    found = stats(sampler)
    assert found[unavailable("no_access")] == 1
    assert found[errors("open_failed")] == 2


def test_a_host_without_disks_is_unavailable_too(smartctl: FakeSmartctl) -> None:
    smartctl.print("scan", '{"json_format_version": [1, 0], "devices": []}')
    sampler = SmartSampler()
    assert sampler.look() == []
    assert stats(sampler)[unavailable("no_devices")] == 1


def test_a_disk_that_does_not_answer_in_time_is_skipped_and_counted(
    smartctl: FakeSmartctl, caplog: pytest.LogCaptureFixture
) -> None:
    smartctl.a_host()
    smartctl.hang("sda", 60)
    sampler = SmartSampler(timeout_s=0.5)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        rows = sampler.look()
        sampler.look()
    assert devices(rows) == {"sdb", "sdc", "nvme0"}
    assert stats(sampler)[errors("timeout")] == 2
    assert [m for m in messages(caplog) if "/dev/sda" in m] == [
        "SMART: /dev/sda not read: no answer within 0.5 s"
    ]


def test_exit_status_bits_0_and_1_are_failures_said_again_after_a_recovery(
    smartctl: FakeSmartctl, caplog: pytest.LogCaptureFixture
) -> None:
    smartctl.a_host()
    smartctl.print("sda", SDA_GONE, status=2)
    sampler = SmartSampler()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        rows = by_series(sampler.look())
        sampler.look()
        smartctl.answer("sda")
        assert ("smartctl_device_smart_status", dev("sda")) in by_series(sampler.look())
        smartctl.print("sda", SDA_GONE, status=2)
        sampler.look()
    assert [key for key in rows if key[1][:1] == dev("sda")] == [
        ("smartctl_device_smartctl_exit_status", dev("sda"))
    ]
    assert rows[("smartctl_device_smartctl_exit_status", dev("sda"))] == 2
    failed = (
        "SMART: /dev/sda not read: smartctl exit status 2: Smartctl open device: /dev/sda [SAT] "
        "failed: No such device"
    )
    assert [m for m in messages(caplog) if "/dev/sda" in m] == [failed, failed]
    assert stats(sampler)[errors("failed")] == 3


def test_output_that_is_not_json_is_counted(smartctl: FakeSmartctl) -> None:
    smartctl.a_host()
    smartctl.print("nvme0", "smartctl: unrecognized option '--json'\n", status=1)
    sampler = SmartSampler()
    assert "nvme0" not in devices(sampler.look())
    assert stats(sampler)[errors("bad_output")] == 1


def test_at_most_max_devices_are_read_and_the_rest_counted(
    smartctl: FakeSmartctl, caplog: pytest.LogCaptureFixture
) -> None:
    smartctl.a_host()
    sampler = SmartSampler(max_devices=2)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        rows = sampler.look()
    assert devices(rows) == {"nvme0", "sda"}
    assert by_series(rows)[("smartctl_devices", ())] == 4
    assert stats(sampler)[CAPPED] == 2
    assert "2 disks not reported: at most 2 are" in messages(caplog)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_collect_hands_out_each_look_once_and_starts_the_next_at_the_interval(
    smartctl: FakeSmartctl,
) -> None:
    smartctl.a_host()
    started: list[Callable[[], None]] = []
    clock = Clock()
    sampler = SmartSampler(interval_s=300, start=started.append, clock=clock)
    assert sampler.collect() == []  # starts the first look
    assert len(started) == 1
    assert sampler.collect() == [] and len(started) == 1  # still running: not started again
    started[0]()  # the look runs (in its thread, normally)
    rows = sampler.collect()
    assert devices(rows) == {"sda", "sdb", "sdc", "nvme0"}
    assert sampler.collect() == []  # handed out once
    clock.now += 299
    sampler.collect()
    assert len(started) == 1
    clock.now += 1
    sampler.collect()
    assert len(started) == 2


def test_collect_never_waits_for_smartctl(smartctl: FakeSmartctl) -> None:
    """The look is held inside a real smartctl call while collect is called."""
    smartctl.a_host()
    gate = smartctl.gate("sdc")
    threads: list[threading.Thread] = []

    def start(target: Callable[[], None]) -> None:
        threads.append(threading.Thread(target=target))
        threads[-1].start()

    sampler = SmartSampler(start=start, timeout_s=120)
    assert sampler.collect() == []
    assert sampler.collect() == []
    assert threads[0].is_alive()  # held at /dev/sdc
    assert len(threads) == 1
    with open(gate, "w"):
        pass
    threads[0].join(timeout=120)
    assert not threads[0].is_alive()
    assert devices(sampler.collect()) == {"sda", "sdb", "sdc", "nvme0"}


def test_a_look_that_raises_surfaces_in_the_next_collect(smartctl: FakeSmartctl) -> None:
    smartctl.answer("scan")

    def broken(executable: str, args: Sequence[str], timeout_s: float) -> Run:
        raise RuntimeError("broken runner")

    started: list[Callable[[], None]] = []
    sampler = SmartSampler(run=broken, start=started.append)
    sampler.collect()
    started[0]()
    with pytest.raises(RuntimeError, match="broken runner"):
        sampler.collect()  # the registry counts and logs it as the sampler's error
    assert sampler.collect() == []


def test_the_real_smartctl_takes_the_options_and_its_answers_parse() -> None:
    """smartmontools itself (`make test` installs it): the scan, and a disk that is not
    there."""
    real = shutil.which("smartctl") or shutil.which("smartctl", path="/usr/sbin:/sbin")
    assert real is not None, "smartctl is missing: `make system-deps` installs smartmontools"
    parse_scan(run_smartctl(real, SCAN_ARGS, 60).stdout)  # a list, empty without disks
    run = run_smartctl(real, (*READ_ARGS, "--device=sat", "/dev/hostvitals-no-such-disk"), 60)
    assert run.status & CANNOT_OPEN and not run.status & CANNOT_PARSE
    reading = parse_device("x", run.stdout, run.status)
    assert reading.outcome is Outcome.FAILED
    assert "/dev/hostvitals-no-such-disk" in reading.problem
