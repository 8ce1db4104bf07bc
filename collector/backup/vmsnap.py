"""One VictoriaMetrics tier backed up from a snapshot, or restored into a stopped tier.

A snapshot (``/snapshot/create``) is a consistent, hard-linked copy of the tier's data taken
while it runs; ``vmbackup`` copies it to ``fs://DIR`` and ``/snapshot/delete`` drops it again.
``vmrestore`` writes a backup into the data directory of a stopped tier.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import requests

TIMEOUT_S = 60.0


class BackupError(Exception):
    """A step of a backup or restore failed; the message names the tier and the step."""


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BackupError(f"{name} is not installed (Debian's victoria-metrics package has it)")
    return path


def _run(argv: list[str], what: str) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).splitlines()[-5:])
        raise BackupError(f"{what} failed (exit {done.returncode}): {tail}")


def create_snapshot(url: str) -> str:
    response = requests.get(f"{url}/snapshot/create", timeout=TIMEOUT_S)
    response.raise_for_status()
    body = response.json()
    if body.get("status") != "ok" or not body.get("snapshot"):
        raise BackupError(f"{url}/snapshot/create answered {body!r}")
    return str(body["snapshot"])


def delete_snapshot(url: str, name: str) -> None:
    response = requests.get(f"{url}/snapshot/delete", params={"snapshot": name}, timeout=TIMEOUT_S)
    response.raise_for_status()


def backup_tier(name: str, url: str, data_path: Path, dst: Path) -> str:
    """Copy a consistent snapshot of the running tier at ``url`` (data in ``data_path``) to
    ``dst``; returns the snapshot's name."""
    snapshot = create_snapshot(url)
    try:
        dst.mkdir(parents=True, exist_ok=True)
        _run(
            [
                _tool("vmbackup"),
                f"-storageDataPath={data_path}",
                f"-snapshotName={snapshot}",
                f"-dst=fs://{dst.resolve()}",
                "-loggerLevel=ERROR",
            ],
            f"vmbackup of tier {name}",
        )
    finally:
        delete_snapshot(url, snapshot)
    return snapshot


def restore_tier(name: str, src: Path, data_path: Path) -> None:
    """Write the backup in ``src`` into ``data_path``; the tier must be stopped."""
    if not src.is_dir():
        raise BackupError(f"no backup of tier {name} in {src}")
    data_path.mkdir(parents=True, exist_ok=True)
    _run(
        [
            _tool("vmrestore"),
            f"-src=fs://{src.resolve()}",
            f"-storageDataPath={data_path}",
            "-loggerLevel=ERROR",
        ],
        f"vmrestore of tier {name}",
    )
