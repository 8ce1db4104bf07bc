"""sd_notify over a unix datagram socket that the test itself reads."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from hostvitals.agent.systemd import Notifier


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    path = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(5)
    yield sock, path
    sock.close()


def test_notifications_arrive_as_one_datagram(listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    notifier = Notifier.from_environ({"NOTIFY_SOCKET": path})
    assert notifier is not None and notifier.watchdog_s is None
    assert notifier.notify("READY=1", "STATUS=sampling")
    assert sock.recv(4096) == b"READY=1\nSTATUS=sampling"
    notifier.close()


def test_abstract_socket_names() -> None:
    name = f"hostvitals-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(5)
    try:
        notifier = Notifier(f"@{name}")
        notifier.notify("WATCHDOG=1")
        assert sock.recv(100) == b"WATCHDOG=1"
        notifier.close()
    finally:
        sock.close()


def test_watchdog_settings_from_the_environment(listener: tuple[socket.socket, str]) -> None:
    _, path = listener
    mine = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "4000000", "WATCHDOG_PID": str(os.getpid())}
    notifier = Notifier.from_environ(mine)
    assert notifier is not None and notifier.watchdog_s == 4.0
    notifier.close()
    # a watchdog meant for another process (the PID does not match) is not ours to feed
    other = Notifier.from_environ({**mine, "WATCHDOG_PID": "1"})
    assert other is not None and other.watchdog_s is None
    other.close()


def test_no_socket_means_no_notifier_and_a_bad_one_is_ignored() -> None:
    assert Notifier.from_environ({}) is None
    assert Notifier.from_environ({"NOTIFY_SOCKET": "relative/path"}) is None


def test_a_vanished_socket_does_not_raise(tmp_path: Path) -> None:
    notifier = Notifier(str(tmp_path / "gone"))
    assert notifier.notify("READY=1") is False
    notifier.close()


def test_the_agent_unit_uses_notify_the_watchdog_and_reload() -> None:
    unit = Path(__file__).resolve().parents[3] / "deploy" / "systemd" / "hostvitals-agent.service"
    lines = set(unit.read_text().splitlines())
    assert {"Type=notify", "NotifyAccess=main", "ExecReload=/bin/kill -HUP $MAINPID"} <= lines
    assert any(line.startswith("WatchdogSec=") for line in lines)
