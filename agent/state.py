"""What the agent keeps across restarts: its id and its frame sequence numbers.

The state directory holds:

``agent_id``
    a random UUID generated on first start; the agent's identity towards the collector.
``seq``
    a ceiling: every sequence number below it may already have been used. Numbers are
    reserved in blocks, so the file is rewritten once per ``block`` frames, and a restarted
    agent (even after ``kill -9``) continues at the ceiling: it never reuses a number,
    though it may leave a gap of up to ``block`` numbers.
``format``
    the layout version of the whole directory (these files, the spool's, the journal's). A
    directory without it was written by an agent older than the file: format 1. An agent
    refuses a directory of a newer format, with a message, rather than misread its frames.
``lock``
    held (``flock``) while an agent runs, so two agents cannot share one directory.

Files are replaced atomically and durably (``hostvitals.shared.atomicfile``).
"""

from __future__ import annotations

import fcntl
import os
import uuid
from pathlib import Path
from types import TracebackType

from hostvitals.shared.atomicfile import replace_file
from hostvitals.shared.codec import AGENT_ID_RE
from hostvitals.shared.protocol import MAX_SEQ

AGENT_ID_FILE = "agent_id"
SEQ_FILE = "seq"
LOCK_FILE = "lock"
FORMAT_FILE = "format"
STATE_FORMAT = 1
"""Raised by a change that an older agent could not read (then the newer one reads both)."""
DEFAULT_BLOCK = 32


class StateError(Exception):
    """The state directory cannot be used; the message says why and what to do."""


class StateLockedError(StateError):
    """Another agent holds the state directory."""


def read_agent_id(directory: Path) -> str | None:
    path = directory / AGENT_ID_FILE
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise StateError(f"cannot read {path}: {exc}") from exc
    if not AGENT_ID_RE.fullmatch(text):
        raise StateError(
            f"{path} does not hold a valid agent id ({text[:80]!r}); restore it, or delete it "
            "to register as a new agent"
        )
    return text


def read_seq_ceiling(directory: Path) -> int:
    path = directory / SEQ_FILE
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return 0
    except (OSError, UnicodeDecodeError) as exc:
        raise StateError(f"cannot read {path}: {exc}") from exc
    if not text.isdigit() or int(text) > MAX_SEQ:
        raise StateError(
            f"{path} does not hold a sequence number ({text[:80]!r}); write a number larger "
            "than any sequence number this agent has sent, or delete the whole state "
            "directory to register as a new agent"
        )
    return int(text)


def check_format(directory: Path) -> None:
    """Refuse a state directory written in a newer format; mark an unmarked one as ours."""
    path = directory / FORMAT_FILE
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        replace_file(path, f"{STATE_FORMAT}\n".encode("ascii"))
        return
    except (OSError, UnicodeDecodeError) as exc:
        raise StateError(f"cannot read {path}: {exc}") from exc
    if not text.isdigit():
        raise StateError(f"{path} does not hold a format number ({text[:80]!r}); write 1")
    if int(text) > STATE_FORMAT:
        raise StateError(
            f"{directory} was written by a newer agent (state format {text}; this one reads "
            f"up to {STATE_FORMAT}): install that version again. Moving the directory away "
            "starts afresh as a new agent, and its spooled frames would not be sent"
        )


class StateStore:
    """The agent's id and sequence numbers, persisted in ``directory``.

    Use as a context manager, or call ``open()`` and ``close()``.
    """

    def __init__(self, directory: Path, *, block: int = DEFAULT_BLOCK) -> None:
        if block < 1:
            raise ValueError("block must be positive")
        self.directory = directory
        self._block = block
        self._lock_fd: int | None = None
        self._agent_id: str | None = None
        self._next = 0
        self._ceiling = 0

    def open(self) -> StateStore:
        """Lock the directory (creating it) and load or create the state."""
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(self.directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StateError(f"cannot use state directory {self.directory}: {exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StateLockedError(
                f"another agent is running with state directory {self.directory}"
            ) from None
        self._lock_fd = fd
        try:
            check_format(self.directory)
            agent_id = read_agent_id(self.directory)
            if agent_id is None:
                agent_id = str(uuid.uuid4())
                replace_file(self.directory / AGENT_ID_FILE, f"{agent_id}\n".encode("ascii"))
            self._agent_id = agent_id
            self._next = self._ceiling = read_seq_ceiling(self.directory)
        except OSError as exc:
            self.close()
            raise StateError(f"cannot write to state directory {self.directory}: {exc}") from exc
        except StateError:
            self.close()
            raise
        return self

    def close(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None

    def __enter__(self) -> StateStore:
        return self.open()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def agent_id(self) -> str:
        if self._agent_id is None:
            raise RuntimeError("the state store is not open")
        return self._agent_id

    def peek_seq(self) -> int:
        """The number ``next_seq`` would return, without using it."""
        return self._next

    def next_seq(self) -> int:
        """A sequence number never handed out before, by this or any earlier run."""
        if self._lock_fd is None:
            raise RuntimeError("the state store is not open")
        if self._next >= MAX_SEQ:
            raise StateError("sequence numbers are exhausted")
        if self._next >= self._ceiling:
            ceiling = min(self._next + self._block, MAX_SEQ)
            try:
                replace_file(self.directory / SEQ_FILE, f"{ceiling}\n".encode("ascii"))
            except OSError as exc:
                raise StateError(
                    f"cannot reserve sequence numbers in {self.directory}: {exc}"
                ) from exc
            self._ceiling = ceiling
        seq = self._next
        self._next += 1
        return seq
