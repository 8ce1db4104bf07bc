"""The read-position file: which segment and offset the consumer has acknowledged up to.

It is replaced atomically (``hostvitals.shared.atomicfile``); a durable write also fsyncs the
file before the rename and the directory after it.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from hostvitals.agent.spool.format import decode_position, encode_position
from hostvitals.shared.atomicfile import remove_leftovers, replace_file

POSITION_FILE = "position"
_OLD_TEMP_FILE = "position.tmp"
"""The temporary file's name before the position was written with ``replace_file``."""


def read_position(directory: Path) -> tuple[int, int] | None:
    """(segment index, offset) from the position file; None when it is missing or damaged."""
    try:
        data = (directory / POSITION_FILE).read_bytes()
    except FileNotFoundError:
        return None
    return decode_position(data)


def remove_temporary(directory: Path) -> None:
    """Delete temporary files left behind by an interrupted write."""
    remove_leftovers(directory / POSITION_FILE)
    with contextlib.suppress(FileNotFoundError):
        (directory / _OLD_TEMP_FILE).unlink()


def write_position(directory: Path, segment: int, offset: int, *, durable: bool) -> None:
    """Replace the position file; with ``durable`` it survives power loss once this returns."""
    data = encode_position(segment, offset)
    replace_file(directory / POSITION_FILE, data, mode=0o644, durable=durable)
