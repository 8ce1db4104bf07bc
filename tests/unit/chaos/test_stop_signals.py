"""A stop signal that arrives while a child is being started waits until the child is
recorded, so the cleanup that follows knows about it and stops it."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hostvitals.chaos.procs import Child, on_stop_signal, shielded


@pytest.fixture
def handlers() -> Iterator[None]:
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for stop in before:
        signal.signal(stop, on_stop_signal)
    yield
    for stop, handler in before.items():
        signal.signal(stop, handler)


def test_a_signal_inside_the_shield_is_raised_when_it_ends(handlers: None) -> None:
    reached_end_of_block = False
    with pytest.raises(SystemExit) as stopped, shielded():
        os.kill(os.getpid(), signal.SIGTERM)
        reached_end_of_block = True
    assert reached_end_of_block
    assert stopped.value.code == 128 + signal.SIGTERM


def test_sigint_is_a_keyboard_interrupt_and_outside_the_shield_at_once(handlers: None) -> None:
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGINT)
        signal.sigtimedwait([], 0)  # let the handler run before the next line
        raise AssertionError("the interrupt was held outside a shield")


def test_a_child_interrupted_while_starting_is_recorded_first(
    handlers: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess

    real = subprocess.Popen

    def popen_then_interrupted(*args: object, **kwargs: object) -> subprocess.Popen[bytes]:
        started = real(*args, **kwargs)  # type: ignore[call-overload]
        os.kill(os.getpid(), signal.SIGINT)  # as if it came during Popen's own wait
        return started  # type: ignore[no-any-return]

    monkeypatch.setattr(subprocess, "Popen", popen_then_interrupted)
    child = Child([sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "log")
    with pytest.raises(KeyboardInterrupt):
        child.start()
    assert child.proc is not None and child.running()
    child.stop()
    assert not child.running()
