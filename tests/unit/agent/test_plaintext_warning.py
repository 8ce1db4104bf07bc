"""The agent warns once per collector URL when its token would cross the network in clear."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from hostvitals.agent.app import Agent
from hostvitals.agent.config import AgentConfig, load_config
from hostvitals.agent.delivery import warn_plaintext_credentials
from hostvitals.agent.state import StateStore

SECRET = "hva_0123456789ab_not-in-any-log"


def config(urls: str) -> AgentConfig:
    return load_config(
        environ={
            "HOSTVITALS_AGENT_COLLECTOR_URLS": urls,
            "HOSTVITALS_AGENT_TOKEN": SECRET,
            "HOSTVITALS_AGENT_SAMPLERS__PROCESSES__ENABLED": "false",
        }
    )


def test_warns_once_for_a_remote_plain_http_collector(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING), StateStore(tmp_path) as state:
        agent = Agent(config("http://collector.example:8000,http://127.0.0.1:8000"), state)
        # a reload with the same URLs
        warn_plaintext_credentials(agent.config.delivery, agent._warned_plaintext)
    warnings = [r.getMessage() for r in caplog.records if "clear text" in r.getMessage()]
    assert len(warnings) == 1
    assert "http://collector.example:8000" in warnings[0] and "127.0.0.1" not in warnings[0]
    assert SECRET not in caplog.text


def test_no_warning_over_https_or_loopback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING), StateStore(tmp_path) as state:
        Agent(config("https://collector.example,http://localhost:8000"), state)
    assert "clear text" not in caplog.text
