"""The installed ``hostvitals-collector`` as a process, for tests of what only a real server
shows (connections, timeouts, many clients at once), and raw sockets to talk to it."""

from __future__ import annotations

import shutil
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from tests.support.processes import ManagedProcess, free_port, http_ok, wait_until

WAIT_S = 20.0  # generous bound for an answer that should come within a second or two


def collector_command() -> str:
    path = Path(sys.executable).parent / "hostvitals-collector"
    found = str(path) if path.exists() else shutil.which("hostvitals-collector")
    if found is None:
        raise RuntimeError("hostvitals-collector is not installed; run `make venv`")
    return found


@contextmanager
def collector_process(
    tmp_path: Path, vm_url: str, env: dict[str, str], nofile: int | None = None
) -> Iterator[tuple[str, ManagedProcess]]:
    """A collector on a free port (no rollup tiers, the open mode) with ``env`` on top;
    yields its base URL and its process. ``nofile`` starts it with that open-files limit."""
    port = free_port()
    argv = [collector_command(), "serve", "--port", str(port)]
    if nofile is not None:
        argv = ["prlimit", f"--nofile={nofile}", "--", *argv]
    proc = ManagedProcess(
        argv,
        tmp_path / f"collector-{port}.log",
        env={
            "HOSTVITALS__VICTORIAMETRICS__URL": vm_url,
            "HOSTVITALS__TIERS__ROLLUPS": "[]",
            "HOSTVITALS_CONFIG": "",
            **env,
        },
    )
    proc.start()
    base = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_until(http_ok(f"{base}/api/v1/health"), 30, "collector health")
        except TimeoutError as exc:
            raise AssertionError(proc.log_tail()) from exc
        yield base, proc
    finally:
        proc.stop()


@contextmanager
def collector(
    tmp_path: Path, vm_url: str, env: dict[str, str], nofile: int | None = None
) -> Iterator[str]:
    """As :func:`collector_process`, yielding only the base URL."""
    with collector_process(tmp_path, vm_url, env, nofile) as (base, _proc):
        yield base


def connect(base: str, source: str = "127.0.0.1") -> socket.socket:
    """A TCP connection to the collector from loopback address ``source``."""
    port = int(base.rsplit(":", 1)[1])
    return socket.create_connection(("127.0.0.1", port), timeout=WAIT_S, source_address=(source, 0))


def read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def metric(base: str, name: str) -> float:
    """The value of one line of the collector's /metrics (the open mode needs no token)."""
    text = requests.get(f"{base}/metrics", timeout=10).text
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in /metrics")
