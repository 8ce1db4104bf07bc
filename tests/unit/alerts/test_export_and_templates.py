"""Templates, settings validation, and the exported rule file checked by promtool and vmalert."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from hostvitals.collector.__main__ import main
from hostvitals.collector.alerts import templates
from hostvitals.collector.config.alerts import AlertsSettings, RuleSettings
from hostvitals.collector.config.vocabulary import TemplateError, check

CONFIG = {
    "alerts": {
        "default_rules": {"cpu_for_s": 120},
        "rules": [
            {
                "name": "LoadHigh",
                "expr": "max by (host) (node_load5)",
                "op": ">",
                "threshold": 4,
                "clear_threshold": 3,
                "for_s": 60,
                "keep_firing_for_s": 120,
                "severity": "low",
                "labels": {"team": "ops", "where": "{{ $labels.host }}"},
                "annotations": {"summary": "load {{ $value | humanize }} > {{ $threshold }}"},
            },
            {"name": "Anything", "expr": 'up{job="x"} == 0'},
        ],
    },
    "slos": {
        "objectives": [
            {
                "name": "api",
                "target": 0.995,
                "window_s": 604800,
                "indicators": [
                    {
                        "name": "ok",
                        "good": 'sum(rate(http_requests_total{code!~"5.."}[$window]))',
                        "total": "sum(rate(http_requests_total[$window]))",
                    }
                ],
            }
        ]
    },
}


def test_render_and_check() -> None:
    text = "{{ $labels.host }}: {{ $value | humanize }} of {{ $threshold }} ({{ $value }})"
    assert templates.render(text, {"host": "web"}, 1234567.0, 80) == "web: 1.235M of 80 (1.235e+06)"
    assert templates.render("{{ $value | humanizePercentage }}", {}, 0.5) == "50%"
    for bad in ("{{ .Labels.host }}", "{{ $value | printf }}", "{{ $labels.host"):
        with pytest.raises(TemplateError):
            check(bad)


@pytest.mark.parametrize(
    ("text", "rendered"),
    [
        ("", ""),
        ("no actions at all", "no actions at all"),
        ("{{$labels.host}}", "web"),
        ("{{ $labels.missing }}!", "!"),
        ("{{ $value }}{{ $threshold }}", "0.512990"),
        ("{{ $threshold | humanizePercentage }} at {{ $labels.host }}", "9k% at web"),
        ("a {{ .Labels.host }} b {{ $value }}", "a {{ .Labels.host }} b 0.5129"),
        ("{{ $labels.host\n}}", "web"),
        ("{{ $labels.host }", "{{ $labels.host }"),
        ("ü {{ $value | humanize }}\n{{", "ü 512.9m\n{{"),
    ],
)
def test_a_template_renders_piece_by_piece(text: str, rendered: str) -> None:
    """Parsed once into literal text and actions; an action outside the syntax (refused at
    load time) stays as it was written."""
    assert templates.render(text, {"host": "web"}, 0.5129, 90) == rendered
    assert templates.render(text, {"host": "web"}, 0.5129, 90) == rendered  # parsed, cached


@pytest.mark.parametrize(
    ("rule", "says"),
    [
        ({"name": "x-y", "expr": "up"}, "valid alert name"),
        ({"name": "X", "expr": "up", "op": ">"}, "op and threshold go together"),
        (
            {"name": "X", "expr": "up", "op": ">", "threshold": 1, "clear_threshold": 2},
            "at or below",
        ),
        ({"name": "X", "expr": "up", "labels": {"severity": "x"}}, "set by the rule itself"),
        ({"name": "X", "expr": "up", "annotations": {"a": "{{ .Value }}"}}, "unsupported template"),
        ({"name": "X", "expr": "up", "severity": "urgent"}, "severity"),
    ],
)
def test_invalid_rules_are_refused(rule: dict[str, object], says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        RuleSettings.model_validate(rule)


def test_notifier_needs_its_fields() -> None:
    with pytest.raises(ValidationError, match="needs url"):
        AlertsSettings.model_validate({"notifiers": [{"name": "s", "type": "slack"}]})
    with pytest.raises(ValidationError, match="needs smtp_host"):
        AlertsSettings.model_validate({"notifiers": [{"name": "m", "type": "email"}]})
    with pytest.raises(ValidationError, match="unique"):
        AlertsSettings.model_validate(
            {"notifiers": [{"name": "a", "type": "webhook", "url": "http://x"}] * 2}
        )


def export(tmp_path: Path, target: str) -> Path:
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(CONFIG))
    out = tmp_path / f"rules-{target}.yml"
    assert (
        main(["rules", "export", "--config", str(config), "--target", target, "-o", str(out)]) == 0
    )
    return out


def test_export_content(tmp_path: Path) -> None:
    doc = yaml.safe_load(export(tmp_path, "prometheus").read_text())
    groups = {g["name"]: g for g in doc["groups"]}
    assert set(groups) == {
        "hostvitals-hosts",
        "user",
        "slo-hostvitals-ingest",
        "slo-hostvitals-freshness",
        "slo-api",
    }
    load = groups["user"]["rules"][0]
    assert load["for"] == "1m" and load["keep_firing_for"] == "2m"
    assert load["labels"] == {"team": "ops", "where": "{{ $labels.host }}", "severity": "low"}
    assert load["annotations"]["summary"] == "load {{ $value | humanize }} > 4"
    assert load["expr"].startswith("(max by (host) (node_load5)) > 4 or ")
    burns = [r for r in groups["slo-api"]["rules"] if r["alert"] == "SLOErrorBudgetBurn"]
    # 7-day window: 2 % in 1 h is a burn of 3.36, times the 0.005 budget.
    assert burns[0]["expr"].endswith("> 0.0168")
    assert [r["labels"]["severity"] for r in burns] == ["critical", "high", "medium"]
    vm_doc = yaml.safe_load(export(tmp_path, "vmalert").read_text())
    assert "keep_firing_for" not in str(vm_doc)


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed; `make deps` installs it")
    return path


def test_promtool_accepts_the_export(tmp_path: Path) -> None:
    out = export(tmp_path, "prometheus")
    result = subprocess.run(
        [_tool("promtool"), "check", "rules", str(out)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_vmalert_dry_run_accepts_the_export(tmp_path: Path) -> None:
    out = export(tmp_path, "vmalert")
    result = subprocess.run(
        [_tool("vmalert"), "-dryRun", f"-rule={out}"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
