"""The agent's log never shows its token, whichever logger writes it and however."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from hostvitals.agent.__main__ import configure_logging
from hostvitals.shared.masking import uninstall_log_masking

TOKEN = "hva_0123456789ab_plainly-configured-agent-secret"
LEGACY = "an-old-style-agent-token-42"


@pytest.fixture
def agent_logging() -> Iterator[None]:
    configure_logging("debug", LEGACY)
    try:
        yield
    finally:
        uninstall_log_masking()


def test_the_token_is_masked(agent_logging: None, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    log = logging.getLogger("hostvitals.agent.sender")
    log.warning("POST refused with %s", {"Authorization": f"Bearer {TOKEN}"})
    log.info("token from the configuration: %s; as such: %s", LEGACY, TOKEN)
    log.error("to https://agent:%s@collector.example/api/v1/ingest", LEGACY)
    assert TOKEN not in caplog.text and "plainly-configured" not in caplog.text
    assert LEGACY not in caplog.text
    assert "collector.example/api/v1/ingest" in caplog.text
