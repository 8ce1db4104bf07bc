"""Configuration: file < environment < CLI, and a clear error for every bad value."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from hostvitals.agent.__main__ import parse_args
from hostvitals.agent.config import KEYS, AgentConfig, ConfigError, load_config

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "deploy" / "agent.example.toml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(text)
    return path


def flags(*argv: str) -> dict[str, Any]:
    return vars(parse_args(list(argv)))


def test_defaults() -> None:
    config = load_config()
    assert config == AgentConfig(host=socket.gethostname())
    assert config.interval == 1.0
    assert config.delivery.collector_urls == ("http://127.0.0.1:8000",)
    assert config.flush_interval == 10.0
    assert config.delivery.token is None
    assert config.samplers.processes.top_n == 10
    assert config.samplers.processes.interval == 5.0
    assert "processes" in config.samplers.enabled


def test_precedence_file_then_environment_then_flags(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        interval = 2
        host = "from-file"
        state_dir = "/from/file"
        collector_urls = ["http://file:8000"]
        log_level = "debug"
        [samplers.processes]
        top_n = 3
        """,
    )
    env = {
        "HOSTVITALS_AGENT_INTERVAL": "5",
        "HOSTVITALS_AGENT_HOST": "from-env",
        "HOSTVITALS_AGENT_COLLECTOR_URLS": "http://a:8000, http://b:8000/",
        "HOSTVITALS_AGENT_SAMPLERS__PROCESSES__TOP_N": "7",
        "UNRELATED": "x",
    }
    cli = flags(
        "--interval", "10", "--collector-url", "http://cli:1", "--collector-url", "https://cli2"
    )
    config = load_config(path, environ=env, flags=cli)
    assert config.interval == 10.0  # flag beats environment beats file
    assert config.host == "from-env"  # environment beats file
    assert config.state_dir == Path("/from/file")  # only in the file
    assert config.log_level == "debug"
    assert config.delivery.collector_urls == ("http://cli:1", "https://cli2")
    assert config.samplers.processes.top_n == 7
    assert config.flush_interval == 10.0

    only_env = load_config(path, environ=env)
    assert only_env.delivery.collector_urls == ("http://a:8000", "http://b:8000")
    assert only_env.interval == 5.0


def test_nested_sections_and_booleans(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [samplers.network]
        include_loopback = true
        [samplers.processes]
        enabled = false
        [samplers.filesystem]
        ignored_fs_types = "^(tmpfs)$"
        """,
    )
    config = load_config(path, environ={"HOSTVITALS_AGENT_SAMPLERS__DISK__ENABLED": "no"})
    assert config.samplers.network.include_loopback is True
    assert config.samplers.enabled == {
        "cpu",
        "load",
        "memory",
        "filesystem",
        "network",
        "pressure",
        "system",
        "sockets",
        "sensors",
        "cgroups",
        "units",
        "info",
        "agent",
    }
    assert config.samplers.filesystem.ignored_fs_types == "^(tmpfs)$"


def test_flush_interval_defaults_to_at_least_the_interval() -> None:
    config = load_config(environ={"HOSTVITALS_AGENT_INTERVAL": "30"})
    assert config.flush_interval == 30.0


def test_token_file_is_read_and_stripped(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    config = load_config(environ={"HOSTVITALS_AGENT_TOKEN_FILE": str(token)})
    assert config.delivery.token == "s3cret"
    assert "s3cret" not in repr(config)


def test_empty_token_means_none() -> None:
    assert load_config(environ={"HOSTVITALS_AGENT_TOKEN": ""}).delivery.token is None


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("intervall = 1", "unknown key 'intervall'"),
        ("[samplers.procs]\ntop_n = 1", "unknown key 'samplers.procs'"),
        ("[samplers.processes]\ntopn = 1", "unknown key 'samplers.processes.topn'"),
        ("samplers = 1", "samplers must be a table"),
        ("interval = 0", "interval must be between 1 and 60, got 0"),
        ("interval = 61", "interval must be between 1 and 60"),
        ("interval = '5'", "interval must be a number"),
        ("interval = true", "interval must be a number"),
        ("flush_interval = 0.5", "flush_interval must be between 1 and 3600"),
        (
            "interval = 20\nflush_interval = 10",
            "flush_interval (10) must be at least interval (20)",
        ),
        ("max_samples_per_frame = 0", "max_samples_per_frame must be between 1"),
        ("max_samples_per_frame = 1.5", "max_samples_per_frame must be an integer"),
        ("spool_max_bytes = 10", "spool_max_bytes must be between 16384"),
        ('spool_fsync = "sometimes"', "spool_fsync must be one of always, interval, never"),
        ("compression = 'lz4'", "compression must be one of zstd, gzip, none, got 'lz4'"),
        ("log_level = 'loud'", "log_level must be one of debug"),
        ("request_timeout = 0", "request_timeout must be between 1 and 120"),
        ("collector_urls = []", "collector_urls must name at least one collector URL"),
        ("collector_urls = ['ftp://x']", "is not an http:// or https:// URL"),
        ("collector_urls = ['http://']", "is not an http:// or https:// URL with a host"),
        ("collector_urls = ['http://a:99999']", "has an invalid port"),
        ("collector_urls = ['http://a?x=1']", "must not have a query"),
        ("collector_urls = ['http://a', 'http://a/']", "must not list a URL twice"),
        ("collector_urls = [1]", "must be a list of URLs"),
        ("host = ''", "host must be 1-253 printable characters"),
        ('host = "a\\tb"', "host must be 1-253 printable characters"),
        ("state_dir = ''", "state_dir must be a non-empty path"),
        ("token = 5", "token must be a string, got '<hidden>'"),
        ("[samplers.cpu]\nenabled = 'yes'", "samplers.cpu.enabled must be true or false"),
        ("[samplers.processes]\ntop_n = 0", "samplers.processes.top_n must be between 1 and 1000"),
        ("[samplers.processes]\ninterval = 0", "samplers.processes.interval must be between"),
        ("[samplers.filesystem]\nignored_fs_types = '('", "is not a valid regular expression"),
        ("[samplers.filesystem]\nstatvfs_timeout = 0", "statvfs_timeout must be between"),
        ("interval = ", "is not valid TOML"),
    ],
)
def test_file_errors_name_key_value_and_source(tmp_path: Path, toml: str, message: str) -> None:
    path = write(tmp_path, toml)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert message in str(info.value)
    if "TOML" not in message and "at least" not in message:
        assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"HOSTVITALS_AGENT_INTERVALS": "1"},
            "unknown environment variable HOSTVITALS_AGENT_INTERVALS",
        ),
        ({"HOSTVITALS_AGENT_INTERVAL": "abc"}, "interval must be a number, got 'abc'"),
        ({"HOSTVITALS_AGENT_INTERVAL": "nan"}, "interval must be between 1 and 60"),
        (
            {"HOSTVITALS_AGENT_SAMPLERS__NETWORK__INCLUDE_LOOPBACK": "maybe"},
            "must be true or false",
        ),
        ({"HOSTVITALS_AGENT_MAX_SAMPLES_PER_FRAME": "1e3"}, "must be an integer"),
        ({"HOSTVITALS_AGENT_COLLECTOR_URLS": " , "}, "at least one collector URL"),
        (
            {"HOSTVITALS_AGENT_TOKEN": "a", "HOSTVITALS_AGENT_TOKEN_FILE": "/x"},
            "set token or token_file, not both",
        ),
        ({"HOSTVITALS_AGENT_TOKEN_FILE": "/nonexistent/token"}, "token_file: cannot read"),
    ],
)
def test_environment_errors(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(environ=env)
    assert message in str(info.value)
    name = next(iter(env))
    if "unknown" in message or "must" in message:
        assert name in str(info.value) or "not both" in message


def test_empty_token_file_is_an_error(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("\n")
    with pytest.raises(ConfigError, match="is empty"):
        load_config(environ={"HOSTVITALS_AGENT_TOKEN_FILE": str(token)})


def test_flag_errors_name_the_flag() -> None:
    with pytest.raises(
        ConfigError, match="interval must be between 1 and 60, got '0' \\(from flag --interval\\)"
    ):
        load_config(flags=flags("--interval", "0"))
    with pytest.raises(ConfigError, match="flag --collector-url"):
        load_config(flags=flags("--collector-url", "nope"))


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read configuration file"):
        load_config(tmp_path / "missing.toml")


def test_example_file_documents_every_key_with_its_default() -> None:
    text = EXAMPLE.read_text()
    for key in KEYS:
        assert key.rsplit(".", 1)[-1] in text, key
    assert load_config(EXAMPLE) == load_config()
