"""The command line: options, subcommands, configuration errors and a missing extra (exit 2)."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import tomllib
from importlib.machinery import ModuleSpec
from importlib.metadata import distributions, packages_distributions
from pathlib import Path

import pytest

from hostvitals.collector import __main__ as cli
from hostvitals.collector.config.settings import Settings

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[Settings]:
    calls: list[Settings] = []
    monkeypatch.setattr(cli, "serve", calls.append)
    monkeypatch.delenv("HOSTVITALS_CONFIG", raising=False)
    return calls


@pytest.mark.parametrize(
    "argv",
    [
        ["--host", "0.0.0.0", "--port", "9001"],
        ["serve", "--host", "0.0.0.0", "--port", "9001"],
        ["--host", "0.0.0.0", "serve", "--port", "9001"],
    ],
)
def test_options_reach_the_settings(served: list[Settings], argv: list[str]) -> None:
    assert cli.main(argv) == 0
    (settings,) = served
    assert (settings.server.host, settings.server.port) == ("0.0.0.0", 9001)


def test_config_file_option(served: list[Settings], tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("server:\n  port: 9002\nlimits:\n  max_series_per_frame: 3\n")
    assert cli.main(["serve", "--config", str(path)]) == 0
    assert served[0].server.port == 9002
    assert served[0].limits.max_series_per_frame == 3


def test_environment_is_read(served: list[Settings], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOSTVITALS__VICTORIAMETRICS__URL", "http://vm.internal:8428")
    assert cli.main([]) == 0
    assert served[0].victoriametrics.url == "http://vm.internal:8428"


def test_config_error_is_one_line_and_exit_2(
    served: list[Settings], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("limits:\n  max_body_bytes: -1\n")
    assert cli.main(["--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("config error: limits.max_body_bytes: Input should be greater than 0")
    assert err.count("\n") == 1
    assert served == []


def test_bad_port_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--port", "99999"])
    assert exit_info.value.code == 2
    assert "port must be 1-65535" in capsys.readouterr().err


def test_missing_collector_extra_is_one_line_and_exit_2(
    served: list[Settings], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, package: str | None = None) -> ModuleSpec | None:
        return None if name in {"fastapi", "pydantic"} else real_find_spec(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    assert cli.main(["serve"]) == 2
    assert capsys.readouterr().err == (
        "hostvitals-collector needs the collector extra: "
        "pip install 'hostvitals[collector]' (missing: fastapi, pydantic)\n"
    )
    assert served == []


def test_extra_modules_match_the_collector_extra() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    extra = pyproject["project"]["optional-dependencies"]["collector"]
    wanted = {_normalize(re.split(r"[\s\[<>=!~;]", req, maxsplit=1)[0]) for req in extra}
    providers = packages_distributions()
    checked = {
        _normalize(dist)
        for name in cli.COLLECTOR_EXTRA_MODULES
        for dist in (providers[name] if "." not in name else _owners(name))
    }
    assert checked == wanted


def _owners(module: str) -> list[str]:
    """The distributions that install ``module``'s package (a namespace package's part)."""
    init = module.replace(".", "/") + "/__init__.py"
    return [
        dist.metadata["Name"]
        for dist in distributions()
        if any(str(f) == init for f in dist.files or ())
    ]


def test_importing_the_entry_point_imports_no_extra_module() -> None:
    code = (
        "import sys, hostvitals.collector.__main__ as m; "
        "print(','.join(n for n in m.COLLECTOR_EXTRA_MODULES if n in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == ""


def _normalize(distribution: str) -> str:
    return re.sub(r"[-_.]+", "-", distribution).lower()
