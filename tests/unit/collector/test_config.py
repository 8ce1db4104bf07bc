"""Settings: defaults, YAML, environment overrides and one-line errors naming the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from hostvitals.collector.config.loader import ConfigError, load_settings
from hostvitals.collector.config.settings import Settings

REPO = Path(__file__).resolve().parents[3]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "collector.yaml"
    path.write_text(text)
    return path


def test_defaults_are_what_the_query_side_expects() -> None:
    s = Settings()
    assert s.victoriametrics.url == "http://127.0.0.1:8428"
    assert s.victoriametrics.timeout_s == 10
    assert (s.query.default_range_s, s.query.max_points, s.query.default_points) == (
        3600,
        11000,
        300,
    )
    assert (s.server.host, s.server.port, s.server.workers) == ("127.0.0.1", 8000, 1)
    assert s.limits.max_body_bytes == 8 * 1024 * 1024
    assert s.limits.max_decompressed_bytes == 64 * 1024 * 1024
    assert s.limits.max_sample_age_s == 7 * 86400 + 3600  # the agent spool, plus an hour
    assert s.auth.tokens == []


def _keys(model: type[BaseModel], doc: dict[str, Any], prefix: str = "") -> list[str]:
    missing = []
    for name, info in model.model_fields.items():
        if name not in doc:
            missing.append(prefix + name)
            continue
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            missing += _keys(annotation, doc[name], f"{prefix}{name}.")
    return missing


def test_shipped_config_has_every_key_with_the_default_value() -> None:
    path = REPO / "config" / "config.yaml"
    doc = yaml.safe_load(path.read_text())
    assert _keys(Settings, doc) == []
    assert load_settings(path, {}) == Settings()


def test_yaml_values_are_loaded(tmp_path: Path) -> None:
    path = write(tmp_path, "server:\n  port: 9100\nlimits:\n  max_series_per_frame: 7\n")
    s = load_settings(path, {})
    assert s.server.port == 9100
    assert s.limits.max_series_per_frame == 7
    assert s.limits.max_body_bytes == Settings().limits.max_body_bytes


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "server:\n  port: 9100\n")
    env = {
        "HOSTVITALS__SERVER__PORT": "9200",
        "HOSTVITALS__VICTORIAMETRICS__URL": "http://vm.example:8428/",
        "HOSTVITALS__VICTORIAMETRICS__TIMEOUT_S": "2.5",
        "HOSTVITALS__AUTH__TOKENS": "one, two",
        "HOSTVITALS_AGENT_FLUSH_INTERVAL": "5",  # not ours: ignored
    }
    s = load_settings(path, env)
    assert s.server.port == 9200
    assert s.victoriametrics.url == "http://vm.example:8428"
    assert s.victoriametrics.timeout_s == 2.5
    assert [t.get_secret_value() for t in s.auth.tokens] == ["one", "two"]


def test_list_values_from_the_environment_can_be_json() -> None:
    s = load_settings(None, {"HOSTVITALS__AUTH__TOKENS": '["a,b", "c"]'})
    assert [t.get_secret_value() for t in s.auth.tokens] == ["a,b", "c"]


def test_config_file_from_the_environment_variable(tmp_path: Path) -> None:
    path = write(tmp_path, "server:\n  port: 9300\n")
    assert load_settings(None, {"HOSTVITALS_CONFIG": str(path)}).server.port == 9300


def test_default_file_is_used_when_present(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text("server:\n  port: 9400\n")
    monkeypatch.chdir(tmp_path)
    assert load_settings(None, {}).server.port == 9400
    (tmp_path / "config" / "config.yaml").unlink()
    assert load_settings(None, {}).server.port == 8000


def test_command_line_overrides_win(tmp_path: Path) -> None:
    path = write(tmp_path, "server:\n  port: 9100\n")
    s = load_settings(path, {"HOSTVITALS__SERVER__PORT": "9200"}, {"server.port": 9500})
    assert s.server.port == 9500


def test_bad_value_names_the_key_path_and_value(tmp_path: Path) -> None:
    path = write(tmp_path, "limits:\n  max_body_bytes: -1\n")
    with pytest.raises(ConfigError) as err:
        load_settings(path, {})
    assert str(err.value).startswith(
        "config error: limits.max_body_bytes: Input should be greater than 0 (got -1)"
    )


def test_bad_environment_value_names_the_variable() -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(None, {"HOSTVITALS__SERVER__PORT": "eighty"})
    message = str(err.value)
    assert "server.port" in message and "'eighty'" in message
    assert "HOSTVITALS__SERVER__PORT" in message


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("server:\n  prot: 80\n", "server.prot: unknown key"),
        ("nonsense:\n  a: 1\n", "nonsense: unknown key"),
        ("server:\n  workers: 4\n", "server.workers: only 1 is supported"),
        ("victoriametrics:\n  url: ftp://x\n", "victoriametrics.url: must be an http://"),
        ("query:\n  default_points: 20000\n", "default_points (20000) must not exceed"),
        ("server:\n  log_level: loud\n", "server.log_level"),
        ("auth:\n  tokens: [' padded ']\n", "got a hidden value"),
    ],
)
def test_invalid_settings_are_refused(tmp_path: Path, text: str, says: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, text), {})
    assert says in str(err.value)
    assert "\n" not in str(err.value)


def test_tokens_never_appear_in_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, "auth:\n  tokens: [' hunter2 ']\n"), {})
    assert "hunter2" not in str(err.value)


def test_unknown_environment_section_is_refused() -> None:
    with pytest.raises(ConfigError, match="nosuchsection: unknown key"):
        load_settings(None, {"HOSTVITALS__NOSUCHSECTION__ENABLED": "true"})


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("server: [1, 2\n", "is not valid YAML"),
        ("- a\n- b\n", "must hold a mapping of sections"),
    ],
)
def test_unreadable_files_are_refused(tmp_path: Path, text: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        load_settings(write(tmp_path, text), {})


def test_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "absent.yaml", {})


def test_empty_file_means_defaults(tmp_path: Path) -> None:
    assert load_settings(write(tmp_path, ""), {}) == Settings()


def test_without_a_path_the_packaged_configuration_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hostvitals.collector.config import loader

    packaged = tmp_path / "collector.yaml"
    packaged.write_text("server:\n  port: 8123\n")
    monkeypatch.setattr(loader, "SYSTEM_CONFIG_PATH", packaged)
    monkeypatch.chdir(tmp_path)  # no config/config.yaml here
    assert loader.load_settings(None, {}).server.port == 8123
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text("server:\n  port: 8124\n")
    assert loader.load_settings(None, {}).server.port == 8124
