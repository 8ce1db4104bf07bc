"""The command line: options, subcommands, and configuration errors (exit 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hostvitals.collector import __main__ as cli
from hostvitals.collector.config.settings import Settings


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
