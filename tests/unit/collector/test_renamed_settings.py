"""Settings renamed in a release keep working under their old names, said once in the log;
giving both names is refused with a message naming the new one."""

from __future__ import annotations

import logging

import pytest
from pydantic import ValidationError

from hostvitals.collector.config.settings import Settings


def test_the_old_names_are_read_as_the_new_ones(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="hostvitals.collector.config.section"):
        settings = Settings.model_validate(
            {"limits": {"max_series_per_agent": 1234}, "live": {"dedup_frames_per_agent": 7}}
        )
    assert settings.limits.max_series_per_host == 1234
    assert settings.live.dedup_frames_per_host == 7
    assert sorted(r.getMessage() for r in caplog.records) == [
        "limits.max_series_per_agent is now limits.max_series_per_host; the old name still works",
        "live.dedup_frames_per_agent is now live.dedup_frames_per_host; the old name still works",
    ]


def test_both_names_at_once_are_refused() -> None:
    with pytest.raises(ValidationError, match=r"renamed limits\.max_series_per_host"):
        Settings.model_validate({"limits": {"max_series_per_agent": 1, "max_series_per_host": 2}})
