"""``hostvitals-collector backup --to DIR`` and ``restore --from DIR`` (docs/operations.md)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from hostvitals.collector.backup import run
from hostvitals.collector.backup.vmsnap import BackupError
from hostvitals.collector.config.settings import Settings

COMMANDS = ("backup", "restore")
EXIT_FAILED = 1


def _data_path(text: str) -> tuple[str, Path]:
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"expected TIER=DIR, got {text!r}")
    return name, Path(path)


def _add_data_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        metavar="TIER=DIR",
        type=_data_path,
        action="append",
        default=[],
        help="a tier's -storageDataPath, once per tier: raw=DIR and each rollup tier by name",
    )


def add_backup_commands(commands: Any) -> None:
    backup = commands.add_parser("backup", help="back up every tier and the state, while running")
    backup.add_argument("--to", metavar="DIR", type=Path, required=True, help="a new directory")
    _add_data_option(backup)
    restore = commands.add_parser(
        "restore", help="restore a backup into stopped tiers and a stopped collector"
    )
    restore.add_argument("--from", dest="source", metavar="DIR", type=Path, required=True)
    _add_data_option(restore)


def run_backup_command(args: argparse.Namespace, settings: Settings) -> int:
    data_paths = dict(args.data)
    try:
        if args.command == "backup":
            manifest = run.backup(settings, args.to, data_paths)
        else:
            manifest = run.restore(settings, args.source, data_paths)
    except BackupError as exc:
        print(f"{args.command} failed: {exc}", file=sys.stderr)
        return EXIT_FAILED
    json.dump(manifest, sys.stdout, indent=2)
    print()
    return 0
