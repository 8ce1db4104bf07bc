"""A stop signal that arrives while a child is being started waits until the child is
recorded, so the cleanup that follows knows about it and stops it; and a stop whose first
raise Python dropped (the handler ran inside a finalizer) still ends the run at the next
wait."""

from __future__ import annotations

import os
import signal
import sys
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest

from hostvitals.chaos import procs
from hostvitals.chaos.procs import Child, check_stop, on_stop_signal, pause, shielded, wait_until


@pytest.fixture
def handlers(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(procs, "_requested", None)
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


class _Resource:
    pass


def interrupt_inside_a_finalizer(monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGINT handled while a weakref finalizer runs, as when urllib3 closes a collected
    pool's sockets: Python hands the KeyboardInterrupt to ``sys.unraisablehook`` (which
    prints it as ignored) and goes on."""
    dropped: list[type[BaseException] | None] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: dropped.append(u.exc_type))

    def close() -> None:
        os.kill(os.getpid(), signal.SIGINT)
        signal.sigtimedwait([], 0)  # the handler runs here, inside the finalizer

    resource = _Resource()
    weakref.finalize(resource, close)
    del resource  # the finalizer runs now
    assert dropped == [KeyboardInterrupt]


def test_a_stop_lost_in_a_finalizer_is_raised_at_the_next_wait(
    handlers: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    interrupt_inside_a_finalizer(monkeypatch)  # no exception reaches this frame
    with pytest.raises(KeyboardInterrupt):
        pause(5)
    with pytest.raises(KeyboardInterrupt):
        wait_until(lambda: False, 5, "nothing")
    with pytest.raises(KeyboardInterrupt):
        check_stop()


def test_a_kept_stop_waits_for_cleanup_and_spares_other_threads(
    handlers: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    interrupt_inside_a_finalizer(monkeypatch)
    cleaned = False
    with pytest.raises(KeyboardInterrupt), shielded():
        check_stop()  # inside the shield: the cleanup goes on
        pause(0.01)
        cleaned = True
    assert cleaned
    raised: list[BaseException] = []

    def elsewhere() -> None:
        try:
            check_stop()
        except BaseException as exc:  # any raise at all
            raised.append(exc)

    thread = threading.Thread(target=elsewhere)
    thread.start()
    thread.join()
    assert raised == []


def test_without_a_signal_the_waits_just_wait(handlers: None) -> None:
    check_stop()
    pause(0.01)
    with shielded():
        pass
