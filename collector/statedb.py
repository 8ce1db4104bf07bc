"""The collector's small SQLite database for state that must survive a restart.

One file, ``collector.sqlite3`` in ``state.dir``, in WAL mode: the ledger of written frames
(:mod:`hostvitals.collector.ingest.dedup`) and the queue of rollup buckets
(:mod:`hostvitals.collector.rollups.queue`) each
open their own connection to it. Without a directory the state lives in memory and is lost
with the process (tests, throwaway runs).

The database's ``user_version`` is its format. A collector refuses a database of a newer
format (:class:`StateFormatError`, with a message) rather than misread its ledger; a
database without one (0) was made before the number existed and is format 1.

Run as root on a directory that belongs to another user (``hostvitals-collector agents ...``
typed by an admin next to the service), the files root made there are given to the
directory's owner, so the service can still write them.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path
from typing import Final

FILE_NAME: Final = "collector.sqlite3"
FORMAT: Final = 1
"""Raised by a change of the tables that an older collector could not read."""


class StateFormatError(Exception):
    """The state database was written by a newer collector; the message says what to do."""


def connect(state_dir: Path | None) -> sqlite3.Connection:
    """A connection usable from any thread (callers serialise access with their own lock)."""
    if state_dir is None:
        conn = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
    else:
        state_dir.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            state_dir / FILE_NAME, check_same_thread=False, isolation_level=None, timeout=30.0
        )
        conn.execute("PRAGMA journal_mode=WAL")
        # A commit survives a crash of the process; only a power loss can take the last
        # transactions back, and then VictoriaMetrics' own dedup keeps a re-sent frame single.
        conn.execute("PRAGMA synchronous=NORMAL")
        try:
            check_format(conn, state_dir / FILE_NAME)
        except BaseException:
            conn.close()
            raise
        give_to_directory_owner(state_dir)
    return conn


def check_format(conn: sqlite3.Connection, path: Path) -> None:
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > FORMAT:
        raise StateFormatError(
            f"{path} was written by a newer collector (state format {version}; this one "
            f"reads up to {FORMAT}): install that version again. Its ledger and credentials "
            "are kept; nothing was changed"
        )
    if version < FORMAT:
        conn.execute(f"PRAGMA user_version = {FORMAT}")


def give_to_directory_owner(state_dir: Path) -> None:
    """As root, give what root made in ``state_dir`` (the database, its WAL and index, the
    audit log) to the directory's owner, the service's user."""
    if os.geteuid() != 0:
        return
    owner = state_dir.stat()
    if owner.st_uid == 0:
        return
    for path in state_dir.rglob("*"):
        with contextlib.suppress(FileNotFoundError):
            if path.lstat().st_uid == 0:
                os.chown(path, owner.st_uid, owner.st_gid, follow_symlinks=False)
