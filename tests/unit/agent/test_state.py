"""State: the agent id and sequence numbers survive restarts and are never reused."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from hostvitals.agent.state import (
    AGENT_ID_FILE,
    SEQ_FILE,
    StateError,
    StateLockedError,
    StateStore,
)


def test_first_start_creates_an_id_and_starts_at_zero(tmp_path: Path) -> None:
    with StateStore(tmp_path / "state") as store:
        uuid.UUID(store.agent_id)
        assert [store.next_seq() for _ in range(3)] == [0, 1, 2]
    assert (tmp_path / "state").stat().st_mode & 0o777 == 0o700


def test_restart_keeps_the_id_and_never_reuses_a_number(tmp_path: Path) -> None:
    with StateStore(tmp_path, block=10) as store:
        agent_id = store.agent_id
        used = [store.next_seq() for _ in range(13)]
    with StateStore(tmp_path, block=10) as store:
        assert store.agent_id == agent_id
        after = store.next_seq()
    assert after > max(used)
    assert after <= max(used) + 10  # a gap of at most one block


def test_numbers_survive_kill_9(tmp_path: Path) -> None:
    """A process that reserved numbers and died without closing leaves them reserved."""
    script = textwrap.dedent(
        f"""
        import os, signal
        from pathlib import Path
        from hostvitals.agent.state import StateStore
        store = StateStore(Path({str(tmp_path)!r}), block=4).open()
        for _ in range(6):
            print(store.next_seq(), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == -9, result.stderr
    sent = [int(line) for line in result.stdout.split()]
    assert sent == [0, 1, 2, 3, 4, 5]
    with StateStore(tmp_path, block=4) as store:
        assert store.next_seq() > max(sent)


def test_a_second_agent_on_the_same_directory_is_refused(tmp_path: Path) -> None:
    with StateStore(tmp_path), pytest.raises(StateLockedError, match="another agent"):
        StateStore(tmp_path).open()
    with StateStore(tmp_path):  # released on close
        pass


def test_peek_does_not_use_a_number(tmp_path: Path) -> None:
    with StateStore(tmp_path) as store:
        assert store.peek_seq() == 0
        assert store.peek_seq() == 0
        assert store.next_seq() == 0
        assert store.peek_seq() == 1


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (AGENT_ID_FILE, "not a valid id!\n", "valid agent id"),
        (AGENT_ID_FILE, "", "valid agent id"),
        (SEQ_FILE, "abc\n", "sequence number"),
        (SEQ_FILE, "-5\n", "sequence number"),
        (SEQ_FILE, f"{2**64}\n", "sequence number"),
    ],
)
def test_corrupt_state_is_a_clear_error(
    tmp_path: Path, name: str, content: str, message: str
) -> None:
    (tmp_path / name).write_text(content)
    with pytest.raises(StateError, match=message) as info:
        StateStore(tmp_path).open()
    assert str(tmp_path / name) in str(info.value)
    # the failed open released the lock: fixing the file is enough
    (tmp_path / name).unlink()
    with StateStore(tmp_path) as store:
        assert store.peek_seq() == 0


def test_state_dir_that_is_a_file_is_a_clear_error(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(StateError, match="cannot use state directory"):
        StateStore(target).open()


def test_using_a_closed_store_is_an_error(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    with pytest.raises(RuntimeError):
        store.next_seq()


def test_a_directory_of_a_newer_format_is_refused_untouched(tmp_path: Path) -> None:
    with StateStore(tmp_path) as store:
        agent_id = store.agent_id
        store.next_seq()
    assert (tmp_path / "format").read_text() == "1\n"  # an unmarked directory is marked
    (tmp_path / "format").write_text("2\n")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.name != "lock"}
    with pytest.raises(StateError, match=r"newer agent \(state format 2; this one reads up to 1\)"):
        StateStore(tmp_path).open()
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.name != "lock"} == before
    (tmp_path / "format").unlink()  # a directory of an agent older than the marker
    with StateStore(tmp_path) as store:
        assert store.agent_id == agent_id
