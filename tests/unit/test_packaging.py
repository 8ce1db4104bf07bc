"""The wheel: one import package, the console scripts, every package folder, the built
dashboard, and an agent-only install whose collector command names the extra it needs.

The wheel is built once for the module, offline (no index, no build isolation: setuptools and
wheel come from the test environment), from a copy of the checkout, so that setuptools' build/
folder, where files of removed modules linger, and its egg-info stay out of the checkout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from importlib.metadata import PathDistribution
from pathlib import Path

import pytest

from hostvitals.collector.__main__ import COLLECTOR_EXTRA_MODULES, missing_extra_message

REPO = Path(__file__).resolve().parents[2]
PARTS = ("agent", "chaos", "collector", "shared")
NOT_COPIED = shutil.ignore_patterns(
    ".git",
    ".venv",
    "node_modules",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    ".hypothesis",
    "var",
    "test-artifacts",
)
CONSOLE_SCRIPTS = {
    "hostvitals-agent": "hostvitals.agent.__main__:main",
    "hostvitals-collector": "hostvitals.collector.__main__:main",
    "hostvitals-chaos": "hostvitals.chaos.__main__:main",
}


def _environment() -> dict[str, str]:
    """This environment without what would put the checkout or another tree on sys.path."""
    env = dict(os.environ)
    for name in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE"):
        env.pop(name, None)
    env["PIP_NO_INDEX"] = "1"
    return env


def _run(argv: list[str | Path], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(arg) for arg in argv],
        cwd=cwd,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _pip(argv: list[str | Path], cwd: Path) -> None:
    done = _run([sys.executable, "-m", "pip", "--no-input", *argv], cwd)
    assert done.returncode == 0, f"pip {argv[0]} failed:\n{done.stdout}\n{done.stderr}"


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the checkout (with the built dashboard, which git ignores)."""
    assert (REPO / "collector" / "static" / "index.html").is_file(), (
        "the dashboard is not built: run `make web` (make test does) before this test"
    )
    copy = tmp_path_factory.mktemp("packaging") / "source"
    shutil.copytree(REPO, copy, symlinks=True, ignore=NOT_COPIED)
    return copy


@pytest.fixture(scope="module")
def wheel(source: Path) -> Path:
    out = source.parent / "wheels"
    _pip(
        ["wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q", "-w", out, source],
        source.parent,
    )
    (built,) = out.glob("hostvitals-*.whl")
    return built


@pytest.fixture(scope="module")
def names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


@pytest.fixture(scope="module")
def dist_info(names: set[str]) -> str:
    (folder,) = {name.split("/")[0] for name in names if name.split("/")[0].endswith(".dist-info")}
    return folder


def _package_folders(source: Path) -> list[Path]:
    return sorted(
        init.parent.relative_to(source)
        for part in PARTS
        for init in (source / part).rglob("__init__.py")
        if "__pycache__" not in init.parts
    )


def test_hostvitals_is_the_only_import_name(names: set[str], dist_info: str) -> None:
    top = {name.split("/")[0] for name in names}
    assert top == {"hostvitals", dist_info}
    assert dist_info.startswith("hostvitals-")
    below = {name.split("/")[1] for name in names if name.startswith("hostvitals/")}
    assert below == {"__init__.py", *PARTS}


def test_console_scripts(wheel: Path, dist_info: str) -> None:
    metadata = PathDistribution(zipfile.Path(wheel, f"{dist_info}/"))
    scripts = {(ep.group, ep.name): ep.value for ep in metadata.entry_points}
    assert scripts == {("console_scripts", name): value for name, value in CONSOLE_SCRIPTS.items()}


def test_every_package_folder_is_in_the_wheel(source: Path, names: set[str]) -> None:
    folders = _package_folders(source)
    assert len(folders) > len(PARTS)
    missing = [str(f) for f in folders if f"hostvitals/{f.as_posix()}/__init__.py" not in names]
    assert missing == [], "add these to [tool.setuptools] packages in pyproject.toml"


def test_the_wheel_holds_exactly_the_modules_of_the_tree(source: Path, names: set[str]) -> None:
    """No module is missing, and none comes from elsewhere (tests, bench, an old build)."""
    expected = {"hostvitals/__init__.py"} | {
        f"hostvitals/{module.relative_to(source).as_posix()}"
        for folder in _package_folders(source)
        for module in (source / folder).glob("*.py")
    }
    assert {name for name in names if name.endswith(".py")} == expected


def test_the_built_dashboard_is_in_the_wheel(source: Path, names: set[str]) -> None:
    static = source / "collector" / "static"
    built = {
        f"hostvitals/{path.relative_to(source).as_posix()}"
        for path in static.rglob("*")
        if path.is_file() and not path.name.startswith(".")
    }
    assert "hostvitals/collector/static/index.html" in built
    assert built <= names


def test_agent_only_install_names_the_collector_extra(wheel: Path) -> None:
    """Installed without the extra's dependencies, the collector command says what is missing."""
    root = wheel.parent.parent / "agent-only"
    root.mkdir()
    venv = root / "venv"
    made = _run([sys.executable, "-m", "venv", "--without-pip", venv], root)
    assert made.returncode == 0, made.stderr
    _pip(["--python", venv / "bin" / "python", "install", "--no-deps", "-q", wheel], root)

    done = _run([venv / "bin" / "hostvitals-collector", "serve"], root)

    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == missing_extra_message(COLLECTOR_EXTRA_MODULES) + "\n"
    assert "pip install 'hostvitals[collector]'" in done.stderr
