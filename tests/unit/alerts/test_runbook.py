"""Every shipped alert has a section in docs/runbook.md, and `alerts.runbook_url` links to it."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from hostvitals.collector.alerts.objectives import objectives
from hostvitals.collector.alerts.rules import (
    HOST_RULES,
    SLO_EVALUATION_FAILED,
    build_rule_groups,
    runbook_anchor,
)
from hostvitals.collector.config.loader import load_settings

REPO = Path(__file__).resolve().parents[3]
RUNBOOK = REPO / "docs" / "runbook.md"


def sections() -> set[str]:
    return {m.group(1) for m in re.finditer(r"^## (\S+)$", RUNBOOK.read_text(), re.MULTILINE)}


def shipped_names() -> set[str]:
    exported = yaml.safe_load((REPO / "deploy" / "alerts" / "hostvitals-rules.yml").read_text())
    names = {rule["alert"] for group in exported["groups"] for rule in group["rules"]}
    return names | {rule.name for rule in HOST_RULES} | {SLO_EVALUATION_FAILED}


def test_every_shipped_alert_has_a_runbook_section() -> None:
    names = shipped_names()
    assert {"HostDown", "SLOErrorBudgetBurn", "SLOErrorBudgetConsumed"} <= names
    missing = sorted(names - sections())
    assert not missing, f"docs/runbook.md lacks sections for {missing}"


def test_runbook_url_annotations_point_to_sections(tmp_path: Path) -> None:
    config = load_settings(REPO / "config" / "config.yaml", {}, {})
    base = "https://forge.example/hostvitals/blob/main/docs/runbook.md"
    alerts = config.alerts.model_copy(update={"runbook_url": base})
    groups = build_rule_groups(alerts, objectives(config.slos), 0.5)
    rules = [rule for group in groups for rule in group.rules]
    assert {SLO_EVALUATION_FAILED, "HostDown", "SLOErrorBudgetBurn"} <= {r.name for r in rules}
    anchors = {runbook_anchor(name) for name in sections()}
    for rule in rules:
        url = rule.annotations["runbook_url"]
        assert url.startswith(base + "#") and url.removeprefix(base + "#") in anchors, url


def test_without_runbook_url_the_annotation_is_left_out() -> None:
    config = load_settings(REPO / "config" / "config.yaml", {}, {})
    assert config.alerts.runbook_url == ""
    groups = build_rule_groups(config.alerts, objectives(config.slos), 0.5)
    assert not [r for g in groups for r in g.rules if "runbook_url" in r.annotations]
