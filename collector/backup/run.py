"""Back up every tier and the state directory into one directory with a manifest, and restore
from it.

Layout of a backup directory::

    manifest.json          versions, times, tiers, state files
    tiers/<name>/          vmbackup's copy of each tier (raw, then the rollup tiers)
    state/                 the state directory (SQLite via the online backup API)
    audit/                 the audit log, when ``audit.dir`` is outside ``state.dir``

The tiers are copied one after another, so the manifest records each one's snapshot time; a
tier's copy is consistent in itself, and samples written between two snapshots are at most
in the later one (the rollup job recomputes buckets from raw after a restore).

Only single-node tiers can be copied this way: a snapshot and ``vmbackup`` need the node's
data directory. A tier with the cluster layout keeps its data on the vmstorage nodes, each
with its own snapshots, so both commands refuse such a configuration (:data:`CLUSTER_REFUSAL`).
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hostvitals.collector import collector_version, statedb
from hostvitals.collector.backup import state, vmsnap
from hostvitals.collector.backup.vmsnap import BackupError
from hostvitals.collector.config.settings import Settings
from hostvitals.collector.config.tiers import Where

CLUSTER_REFUSAL = (
    "{tiers} layout 'cluster': backup and restore copy single-node VictoriaMetrics only (a "
    "snapshot, then vmbackup of the node's -storageDataPath), and a cluster keeps its data on "
    "its vmstorage nodes. Back up a cluster with its own tools: vmbackup on each vmstorage "
    "node, from a snapshot of that node (vmstorage's /snapshot/create); see docs/operations.md, "
    '"VictoriaMetrics cluster"'
)

MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1
RAW = "raw"


@dataclass(frozen=True)
class Tier:
    name: str
    url: str


def tiers(settings: Settings) -> list[Tier]:
    """The raw tier, then the rollup tiers, finest first.

    Raises BackupError when a tier has the cluster layout (see :data:`CLUSTER_REFUSAL`).
    """
    places: list[tuple[str, Where]] = [(RAW, settings.victoriametrics)]
    places += [(t.name, t) for t in settings.tiers.rollups]
    clustered = [name for name, place in places if place.is_cluster]
    if clustered:
        named = ", ".join(clustered)
        which = f"tiers {named} have" if len(clustered) > 1 else f"tier {named} has"
        raise BackupError(CLUSTER_REFUSAL.format(tiers=which))
    return [Tier(name, str(place.url)) for name, place in places]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _vm_version(url: str) -> str:
    import requests

    try:
        text = requests.get(f"{url}/metrics", timeout=10).text
    except requests.RequestException:
        return "unknown"
    for line in text.splitlines():
        if line.startswith("vm_app_version{"):
            return line.split('version="', 1)[1].split('"', 1)[0]
    return "unknown"


def _vmbackup_version() -> str:
    try:
        done = subprocess.run(
            ["vmbackup", "-version"], capture_output=True, text=True, check=False, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return (done.stdout or done.stderr).strip() or "unknown"


def _audit_outside_state(settings: Settings) -> Path | None:
    audit = settings.audit.dir
    state_dir = settings.state.dir
    if audit is None or state_dir is None:
        return None
    if audit.resolve().is_relative_to(state_dir.resolve()):
        return None
    return audit


def _check_data_paths(settings: Settings, data_paths: Mapping[str, Path]) -> None:
    names = [tier.name for tier in tiers(settings)]
    missing = [name for name in names if name not in data_paths]
    unknown = sorted(set(data_paths) - set(names))
    if missing or unknown:
        raise BackupError(
            f"--data must name each tier's storage directory once: tiers {names}"
            + (f", missing {missing}" if missing else "")
            + (f", unknown {unknown}" if unknown else "")
        )


def backup(settings: Settings, to: Path, data_paths: Mapping[str, Path]) -> dict[str, Any]:
    """Back up a running collector's tiers and state into ``to``; returns the manifest."""
    _check_data_paths(settings, data_paths)
    if (to / MANIFEST).exists():
        raise BackupError(f"{to} already holds a backup; choose a new directory")
    to.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    manifest: dict[str, Any] = {
        "format": MANIFEST_FORMAT,
        "collector_version": collector_version(),
        "state_format": statedb.FORMAT,
        "vmbackup_version": _vmbackup_version(),
        "started_at": _now(),
        "tiers": [],
    }
    for tier in tiers(settings):
        snapshot_at = _now()
        snapshot = vmsnap.backup_tier(
            tier.name, tier.url, data_paths[tier.name], to / "tiers" / tier.name
        )
        manifest["tiers"].append(
            {
                "name": tier.name,
                "url": tier.url,
                "snapshot": snapshot,
                "snapshot_at": snapshot_at,
                "victoriametrics_version": _vm_version(tier.url),
            }
        )
    state_dir = settings.state.dir
    manifest["state_at"] = _now()
    manifest["state_files"] = (
        []
        if state_dir is None or not state_dir.is_dir()
        else state.copy_state(state_dir, to / "state")
    )
    audit = _audit_outside_state(settings)
    manifest["audit_files"] = (
        [] if audit is None or not audit.is_dir() else state.copy_state(audit, to / "audit")
    )
    manifest["finished_at"] = _now()
    manifest["duration_s"] = round(time.monotonic() - started, 3)
    (to / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def read_manifest(src: Path) -> dict[str, Any]:
    path = src / MANIFEST
    if not path.is_file():
        raise BackupError(f"{src} holds no backup (no {MANIFEST}): it is incomplete or not one")
    manifest: dict[str, Any] = json.loads(path.read_text())
    if manifest.get("format") != MANIFEST_FORMAT:
        raise BackupError(f"{path} has format {manifest.get('format')!r}; this collector reads 1")
    if int(manifest.get("state_format", 0)) > statedb.FORMAT:
        raise BackupError(
            f"the backup's state format {manifest['state_format']} is newer than this "
            f"collector's ({statedb.FORMAT}): restore with collector "
            f"{manifest['collector_version']}"
        )
    return manifest


def restore(settings: Settings, src: Path, data_paths: Mapping[str, Path]) -> dict[str, Any]:
    """Restore the backup in ``src`` into stopped tiers and a stopped collector's state."""
    tiers(settings)  # refuses a cluster layout before anything else is looked at
    manifest = read_manifest(src)
    _check_data_paths(settings, data_paths)
    backed_up = {tier["name"] for tier in manifest["tiers"]}
    for tier in tiers(settings):
        if tier.name not in backed_up:
            raise BackupError(f"the backup has no tier {tier.name!r} (it has {sorted(backed_up)})")
    for tier in tiers(settings):
        vmsnap.restore_tier(tier.name, src / "tiers" / tier.name, data_paths[tier.name])
    if settings.state.dir is not None and (src / "state").is_dir():
        state.restore_state(src / "state", settings.state.dir)
    audit = _audit_outside_state(settings)
    if audit is not None and (src / "audit").is_dir():
        state.restore_state(src / "audit", audit)
    return manifest
