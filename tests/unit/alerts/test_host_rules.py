"""The built-in host rules are a table: every row names real settings and fills every value."""

from __future__ import annotations

import pytest

from hostvitals.collector.alerts.rules import HOST_RULES, HostRule, default_rules
from hostvitals.collector.config.alerts import DefaultRulesSettings


@pytest.mark.parametrize("row", HOST_RULES, ids=lambda r: r.name)
def test_rows_name_fields_of_the_settings(row: HostRule) -> None:
    fields = DefaultRulesSettings.model_fields
    for name in (row.threshold, row.for_s):
        assert name is None or name in fields


def test_every_placeholder_is_filled_even_with_dollars_in_the_settings() -> None:
    rules = default_rules(DefaultRulesSettings(ignored_fstypes="^tmpfs$|^${x}$"))
    assert [r.name for r in rules] == [row.name for row in HOST_RULES]
    for rule in rules:
        for text in (rule.expr, *rule.annotations.values()):
            assert "${" not in text.replace("^${x}$", "")
    disk = next(r for r in rules if r.name == "DiskSpace")
    assert 'fstype!~"^tmpfs$|^${x}$"' in disk.expr


def test_disabled_rules_are_left_out() -> None:
    rules = default_rules(DefaultRulesSettings(disabled=["HighCPU", "HostDown"]))
    assert "HighCPU" not in {r.name for r in rules} and "HostDown" not in {r.name for r in rules}
    assert len(rules) == len(HOST_RULES) - 2
