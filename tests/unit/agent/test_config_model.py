"""The configuration model: what is derived from it (keys, environment variables, flags, the
documentation table) and what a reload keeps."""

from __future__ import annotations

import re
from pathlib import Path

from hostvitals.agent.__main__ import parse_args
from hostvitals.agent.config import AGENT_KEYS, KEYS, keep_restart_only, load_config
from hostvitals.agent.config.declare import key_of_env
from hostvitals.agent.config.table import render_table

REPO = Path(__file__).resolve().parents[3]
DOC = REPO / "docs" / "agent.md"
TABLE = re.compile(
    r"<!-- generated from the model: [^\n]*-->\n(?P<table>.*?)<!-- end of the generated table -->",
    re.DOTALL,
)


def test_the_documented_table_is_the_one_the_model_renders() -> None:
    match = TABLE.search(DOC.read_text(encoding="utf-8"))
    assert match is not None, "docs/agent.md lost its generated configuration table"
    assert match.group("table") == render_table(), (
        "docs/agent.md is out of date; replace its table with the output of "
        "python -m hostvitals.agent.config.table"
    )


def test_every_key_is_a_row_of_the_table() -> None:
    rows = render_table().splitlines()[2:]
    assert [row.split("|")[1].strip().strip("`") for row in rows] == list(KEYS)


def test_environment_names_lead_back_to_their_keys() -> None:
    for key in AGENT_KEYS:
        assert key_of_env(key.env) == key.dotted
    assert key_of_env("PATH") is None


def test_the_flags_are_the_declared_ones_and_override_their_keys() -> None:
    flagged = {key.dotted for key in AGENT_KEYS if key.setting.flag is not None}
    assert flagged == {
        "host",
        "interval",
        "state_dir",
        "collector_urls",
        "log_level",
        "path_procfs",
        "path_sysfs",
        "path_rootfs",
    }
    argv = ["--interval", "7", "--state-dir", "/s", "--host", "h", "--log-level", "debug"]
    argv += ["--collector-url", "http://a:1", "--collector-url", "http://b:1"]
    config = load_config(flags=vars(parse_args(argv)))
    assert (config.interval, config.state_dir, config.host) == (7.0, Path("/s"), "h")
    assert config.log_level == "debug"
    assert config.delivery.collector_urls == ("http://a:1", "http://b:1")


def test_a_reload_keeps_the_running_value_of_restart_only_settings() -> None:
    old = load_config(environ={"HOSTVITALS_AGENT_STATE_DIR": "/old"})
    new = load_config(
        environ={
            "HOSTVITALS_AGENT_STATE_DIR": "/new",
            "HOSTVITALS_AGENT_SPOOL_MAX_BYTES": "65536",
            "HOSTVITALS_AGENT_INTERVAL": "5",
        }
    )
    kept, keys = keep_restart_only(old, new)
    assert keys == ["state_dir", "spool_max_bytes"]
    assert kept.state_dir == Path("/old")
    assert kept.spool == old.spool
    assert kept.interval == 5.0  # applies live
    assert keep_restart_only(old, old) == (old, [])
