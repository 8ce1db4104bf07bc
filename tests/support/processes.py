"""Start and stop real server processes for tests and benchmarks."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import requests

from hostvitals.chaos.procs import free_port, http_ok, wait_until

__all__ = ["ManagedProcess", "VictoriaMetrics", "free_port", "http_ok", "wait_until"]


@dataclass
class ManagedProcess:
    """A child process with its output in a log file, stopped with SIGTERM then SIGKILL."""

    argv: Sequence[str]
    log_path: Path
    env: dict[str, str] | None = None
    proc: subprocess.Popen[bytes] | None = field(default=None, init=False)

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            list(self.argv),
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(self.env or {})},
            start_new_session=True,
        )
        log.close()

    @property
    def pid(self) -> int:
        assert self.proc is not None, "process not started"
        return self.proc.pid

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        if self.running():
            assert self.proc is not None
            self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int:
        """Its exit status once it exits by itself (raises TimeoutExpired after ``timeout``)."""
        assert self.proc is not None, "not started"
        return self.proc.wait(timeout)

    def stop(self, timeout: float = 10.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def victoria_metrics_binary() -> str:
    path = shutil.which("victoria-metrics")
    if path is None:
        raise RuntimeError(
            "victoria-metrics is not installed; `make deps` installs Debian's package"
        )
    return path


@dataclass
class VictoriaMetrics:
    """A private single-node VictoriaMetrics on a free loopback port."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    retention: str = "100y"
    extra_args: Sequence[str] = ()
    process: ManagedProcess | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        argv = [
            victoria_metrics_binary(),
            f"-storageDataPath={self.data_dir}",
            f"-httpListenAddr=127.0.0.1:{self.port}",
            f"-retentionPeriod={self.retention}",
            "-search.latencyOffset=0s",
            "-search.cacheTimestampOffset=0s",
            "-loggerLevel=ERROR",
            *self.extra_args,
        ]
        self.process = ManagedProcess(argv, self.data_dir.parent / f"vm-{self.port}.log")
        self.process.start()
        try:
            wait_until(http_ok(f"{self.url}/health"), timeout, "VictoriaMetrics /health")
        except TimeoutError as exc:
            log = self.process.log_tail()
            raise RuntimeError(f"VictoriaMetrics did not start:\n{log}") from exc

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def flush(self) -> None:
        """Make recently written rows searchable now (debug endpoint of single-node VM)."""
        requests.get(f"{self.url}/internal/force_flush", timeout=10).raise_for_status()
