"""The quick part of the packaging test (in ``make test``): the agent's Debian package is
built, lintian finds no error, it holds what it should and no build path, its Python
environment runs the agent on this machine's python3, and the maintainer scripts are clean.

The long part (``make test-packaging``, :mod:`test_debroot`) builds both packages and
installs, upgrades and purges them in a Debian root.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.debs import REPO, build

SCRIPTS = sorted((REPO / "packaging").rglob("*.sh")) + sorted(
    p for p in (REPO / "packaging" / "deb").glob("*/*") if p.name in ("postinst", "prerm", "postrm")
)


@dataclass(frozen=True)
class Built:
    deb: Path
    work: Path
    tree: Path  # the package's files, extracted


@pytest.fixture(scope="module")
def agent_deb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    for tool in ("dpkg-deb", "lintian", "objdump"):
        assert shutil.which(tool), f"{tool} is missing: `make deps` installs it"
    tmp = tmp_path_factory.mktemp("deb")
    (deb,) = build(tmp, "agent")
    tree = tmp / "tree"
    subprocess.run(["dpkg-deb", "-x", str(deb), str(tree)], check=True)
    yield Built(deb, tmp / "work", tree)


def field(deb: Path, name: str) -> str:
    return subprocess.run(
        ["dpkg-deb", "-f", str(deb), name], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_lintian_reports_no_error(agent_deb: Built) -> None:
    result = subprocess.run(
        ["lintian", "--fail-on", "error", str(agent_deb.deb)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    errors = [line for line in result.stdout.splitlines() if line.startswith("E:")]
    assert errors == [] and result.returncode == 0, result.stdout + result.stderr


def test_control_names_debian_python_and_the_conffile(agent_deb: Built) -> None:
    depends = field(agent_deb.deb, "Depends")
    assert "python3 (>= 3.11~)" in depends and "adduser" in depends and "libc6" in depends
    arch = subprocess.run(
        ["dpkg", "--print-architecture"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert field(agent_deb.deb, "Architecture") == arch
    control = subprocess.run(
        ["dpkg-deb", "--ctrl-tarfile", str(agent_deb.deb)], capture_output=True, check=True
    ).stdout
    listing = subprocess.run(
        ["tar", "-t"], input=control, capture_output=True, check=True
    ).stdout.decode()
    assert {"./conffiles", "./postinst", "./prerm", "./postrm", "./md5sums"} <= set(listing.split())


def test_the_package_holds_the_environment_the_unit_and_the_configuration(
    agent_deb: Built,
) -> None:
    tree = agent_deb.tree
    venv = tree / "opt" / "hostvitals" / "agent"
    assert os.readlink(venv / "bin" / "python3") == "/usr/bin/python3"
    assert (
        os.readlink(tree / "usr/bin/hostvitals-agent")
        == "/opt/hostvitals/agent/bin/hostvitals-agent"
    )
    assert (
        (venv / "bin" / "hostvitals-agent")
        .read_text()
        .startswith("#!/opt/hostvitals/agent/bin/python")
    )
    unit = (tree / "lib/systemd/system/hostvitals-agent.service").read_text()
    deploy = (REPO / "deploy/systemd/hostvitals-agent.service").read_text()
    # The same unit, but TLS comes from agent.toml (enroll --ca-file), not the environment.
    tls = ("Environment=HOSTVITALS_AGENT_CA_FILE=", "Environment=HOSTVITALS_AGENT_CLIENT_")
    expected = [line for line in deploy.splitlines() if not line.startswith(tls)]
    assert unit.splitlines() == [line.replace("/usr/local/bin/", "/usr/bin/") for line in expected]
    assert "HOSTVITALS_AGENT_CA_FILE" in deploy and "HOSTVITALS_AGENT_" not in unit
    assert "ExecStart=/usr/bin/hostvitals-agent " in unit
    assert "token_file" in (tree / "etc/hostvitals/agent.toml").read_text()
    site = next(venv.glob("lib/python3.*/site-packages"))
    assert (site / "hostvitals" / "agent").is_dir() and (site / "psutil").is_dir()
    assert not (site / "hostvitals" / "collector").exists()  # the agent's host needs none
    assert not list(tree.rglob("__pycache__")) and not list(tree.rglob("*.pyc"))


def test_no_file_names_the_build_directory(agent_deb: Built) -> None:
    found = subprocess.run(
        ["grep", "-rl", "-F", "-e", str(REPO), "-e", str(agent_deb.work), str(agent_deb.tree)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert found.returncode == 1 and found.stdout == "", found.stdout


def test_the_environment_runs_the_agent_on_debian_python(agent_deb: Built, tmp_path: Path) -> None:
    """Run from where it was extracted: a venv finds its packages next to its own bin/."""
    python = agent_deb.tree / "opt/hostvitals/agent/bin/python3"
    result = subprocess.run(
        [str(python), "-m", "hostvitals.agent", "--once", "--state-dir", str(tmp_path / "s")],
        capture_output=True, text=True, timeout=60,
        env={k: v for k, v in os.environ.items() if not k.startswith(("HOSTVITALS", "PYTHON"))},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    frame = json.loads(result.stdout)
    assert frame["series"] and (tmp_path / "s" / "agent_id").exists()
    version = subprocess.run(
        [str(python), "-c", "import sys; print(sys.base_prefix)"], capture_output=True, text=True
    )
    assert version.stdout.strip() == "/usr"


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(REPO)))
def test_maintainer_and_build_scripts_are_clean(script: Path) -> None:
    assert os.access(script, os.X_OK), f"{script} is not executable"
    text = script.read_text()
    assert text.startswith("#!/bin/sh\n") and "\nset -e" in text
    assert subprocess.run(["sh", "-n", str(script)]).returncode == 0
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck is missing: `make deps` installs it"
    result = subprocess.run([shellcheck, str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
