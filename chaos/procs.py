"""Child processes of the private stack: started in their own session, logged to a file, and
always stopped (SIGTERM, then SIGKILL)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import requests

_shield_depth = 0
_requested: int | None = None
"""The first stop signal received, kept until the run ends."""


def on_stop_signal(signum: int, _frame: FrameType | None) -> None:
    """The runner's handler for SIGINT, SIGTERM and SIGHUP: unwind through every stack's
    cleanup, unless a child is being started, in which case the signal waits until the
    child is recorded (a child started but not yet recorded would be left running).

    The signal is also kept, for :func:`check_stop`: the exception raised here can be lost.
    Python runs the handler wherever the main thread is, and when that is inside a
    finalizer (urllib3 closing a pool's sockets from a weakref callback, say) it prints the
    exception as ignored and the run goes on."""
    global _requested
    if _requested is None:
        _requested = signum
    if _shield_depth:
        return
    _unwind(signum)


def _unwind(signum: int) -> None:
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise SystemExit(128 + signum)


def check_stop() -> None:
    """Raise the stop a signal asked for, again: every wait of the runner calls this, so a
    stop whose first raise was lost still ends the run within one step of a wait. Outside
    the main thread, and inside a shield (cleanup), it does nothing."""
    if (
        _requested is not None
        and not _shield_depth
        and threading.current_thread() is threading.main_thread()
    ):
        _unwind(_requested)


def pause(seconds: float, step: float = 0.2) -> None:
    """``time.sleep`` that a stop signal ends (see :func:`check_stop`)."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        check_stop()
        time.sleep(min(left, step))
    check_stop()


@contextlib.contextmanager
def shielded() -> Iterator[None]:
    """Hold the stop signals until the block is done (see :func:`on_stop_signal`): for
    starting a child, and for cleanup, which a second raise must not cut short."""
    global _shield_depth
    _shield_depth += 1
    try:
        yield
    finally:
        _shield_depth -= 1
        if not _shield_depth and _requested is not None:
            _unwind(_requested)


def free_port() -> int:
    """A loopback TCP port that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: Callable[[], bool], timeout: float, what: str, step: float = 0.05) -> None:
    """Poll ``check`` until it returns True, or raise TimeoutError naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        check_stop()
        if check():
            return
        time.sleep(step)
    raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}")


def http_ok(url: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return requests.get(url, timeout=1).status_code == 200
        except requests.RequestException:
            return False

    return check


def command(name: str) -> str:
    """An installed command: a console script next to this interpreter, else on PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} is not installed (make deps installs what is missing)")
    return found


@dataclass
class Child:
    """A child process with its output in ``log_path``."""

    argv: Sequence[str]
    log_path: Path
    env: dict[str, str] | None = None
    proc: subprocess.Popen[bytes] | None = field(default=None, init=False)

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log, shielded():
            self.proc = subprocess.Popen(
                list(self.argv),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **(self.env or {})},
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise RuntimeError("process not started")
        return self.proc.pid

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGCONT (it may be stopped), SIGTERM, then SIGKILL after ``timeout``."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGCONT)
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""
