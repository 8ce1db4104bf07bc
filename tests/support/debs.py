"""Build the Debian packages for tests, and give one a new version (an upgrade)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def build(tmp: Path, packages: str, **env: str) -> list[Path]:
    """Run packaging/deb/build.sh into ``tmp/dist``; the .deb files it made."""
    result = subprocess.run(
        [str(REPO / "packaging" / "deb" / "build.sh"), str(tmp / "dist")],
        capture_output=True, text=True, timeout=1200,
        env={**os.environ, "PACKAGES": packages, "DEB_WORK": str(tmp / "work"), **env},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return [Path(line) for line in result.stdout.split()]


def with_version(deb: Path, version: str, out: Path) -> Path:
    """The same package under another version: to dpkg, an upgrade."""
    tree = out / f"{deb.stem}.tree"
    subprocess.run(["dpkg-deb", "-R", str(deb), str(tree)], check=True)
    control = tree / "DEBIAN" / "control"
    control.write_text(
        re.sub(r"^Version: .*$", f"Version: {version}", control.read_text(), flags=re.M)
    )
    package = deb.name.split("_")[0]
    target = out / f"{package}_{version}_{deb.name.rsplit('_', 1)[1]}"
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", "-Zxz", "-z1", "-b", str(tree), str(target)],
        check=True, capture_output=True,
    )  # fmt: skip
    return target
