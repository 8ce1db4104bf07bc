"""A consistent copy of the collector's state directory, taken while it runs.

SQLite files are copied with SQLite's online backup API (a consistent image even while the
collector writes to them, WAL included); every other file (the alert state, the audit log's
segments) is copied as it is. The audit log may live outside ``state.dir`` (``audit.dir``);
it is then copied on its own.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

SQLITE_SUFFIXES = (".sqlite3", ".sqlite", ".db")
SKIPPED_SUFFIXES = ("-wal", "-shm", "-journal")


def _is_sqlite(path: Path) -> bool:
    return path.suffix in SQLITE_SUFFIXES


def copy_sqlite(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True, timeout=30.0)
    try:
        target = sqlite3.connect(dst)
        try:
            source.backup(target)
        finally:
            target.close()
    finally:
        source.close()


def copy_state(src: Path, dst: Path) -> list[str]:
    """Copy the directory ``src`` to ``dst``; returns the relative paths copied, sorted."""
    copied: list[str] = []
    for path in sorted(src.rglob("*")):
        if not path.is_file() or path.name.endswith(SKIPPED_SUFFIXES):
            continue
        relative = path.relative_to(src)
        target = dst / relative
        if _is_sqlite(path):
            copy_sqlite(path, target)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
        copied.append(relative.as_posix())
    return copied


def restore_state(src: Path, dst: Path) -> list[str]:
    """Put the copy in ``src`` back into ``dst`` (the collector must be stopped): the old
    database's WAL and index files are removed so they cannot be replayed over the copy."""
    if not src.is_dir():
        raise FileNotFoundError(f"no state in the backup at {src}")
    restored: list[str] = []
    for path in sorted(src.rglob("*")):
        if not path.is_file():
            continue
        relative = path.relative_to(src)
        target = dst / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        for suffix in SKIPPED_SUFFIXES:
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        shutil.copy2(path, target)
        restored.append(relative.as_posix())
    return restored
