"""The read-position file: which segment and offset the consumer has acknowledged up to.

It is replaced atomically (write a temporary file, rename it over the old one); a durable write
also fsyncs the file before the rename and the directory after it.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from hostvitals.agent.spool.format import decode_position, encode_position

POSITION_FILE = "position"
_TEMP_FILE = "position.tmp"


def read_position(directory: Path) -> tuple[int, int] | None:
    """(segment index, offset) from the position file; None when it is missing or damaged."""
    try:
        data = (directory / POSITION_FILE).read_bytes()
    except FileNotFoundError:
        return None
    return decode_position(data)


def remove_temporary(directory: Path) -> None:
    """Delete a temporary file left behind by an interrupted write."""
    with contextlib.suppress(FileNotFoundError):
        (directory / _TEMP_FILE).unlink()


def write_position(
    directory: Path, directory_fd: int, segment: int, offset: int, *, durable: bool
) -> None:
    """Replace the position file; with ``durable`` it survives power loss once this returns."""
    temp = directory / _TEMP_FILE
    data = encode_position(segment, offset)
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temp, directory / POSITION_FILE)
    if durable:
        os.fsync(directory_fd)
