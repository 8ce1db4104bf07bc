"""Replacing a small file atomically, so that a crash or a power loss leaves either the old
or the new contents, never a mix.

Everything else in ``hostvitals.shared`` is pure (the protocol, the codec, the catalogue);
this is the one small I/O helper both sides share: the agent for its state and its spool's
read position, the collector for its alert state.

``replace_file`` writes to a temporary file in the same directory (``<name>.<random>.tmp``),
flushes and fsyncs it, renames it over the target with ``os.replace`` and then fsyncs the
directory, so that the rename itself is on disk when it returns. A crash in the middle leaves
at most the temporary file behind; ``remove_leftovers`` deletes those.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path

TEMP_SUFFIX = ".tmp"


def replace_file(path: Path, data: bytes, *, mode: int = 0o600, durable: bool = True) -> None:
    """Replace ``path`` with ``data``; the file gets permission bits ``mode``.

    With ``durable`` (the default) the new contents survive a power loss once this returns.
    Without it nothing is fsynced: still atomic against a crash of the process, for callers
    that sync on their own schedule.
    """
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f"{path.name}.", suffix=TEMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as out:
            os.fchmod(out.fileno(), mode)
            out.write(data)
            out.flush()
            if durable:
                os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    if durable:
        fsync_directory(path.parent)


def fsync_directory(directory: Path) -> None:
    """Put the directory's entries (a file created, renamed or deleted) on stable storage."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_leftovers(path: Path) -> None:
    """Delete the temporary files an interrupted ``replace_file(path, ...)`` left behind."""
    pattern = re.compile(re.escape(path.name) + r"\.[^.]+" + re.escape(TEMP_SUFFIX))
    for entry in path.parent.iterdir():
        if pattern.fullmatch(entry.name):
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()
