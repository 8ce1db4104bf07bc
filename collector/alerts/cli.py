"""``hostvitals-collector rules export``: the rule set as a Prometheus rule file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from hostvitals.collector.alerts.export import Target, export
from hostvitals.collector.alerts.objectives import objectives
from hostvitals.collector.alerts.rules import build_rule_groups


def add_rules_command(commands: Any) -> None:
    """Add ``rules export`` to the collector's subcommands."""
    rules = commands.add_parser("rules", help="alert rules (`rules export`)")
    actions = rules.add_subparsers(dest="rules_command", metavar="ACTION", required=True)
    out = actions.add_parser(
        "export",
        help="print the alert rules (built-in, configured and SLO burn-rate rules) as a "
        "Prometheus rule file for promtool, Prometheus or vmalert",
    )
    out.add_argument(
        "--config", metavar="PATH", default=argparse.SUPPRESS, help="YAML configuration"
    )
    out.add_argument(
        "--target",
        choices=("prometheus", "vmalert"),
        default="prometheus",
        help="vmalert leaves out keep_firing_for, which vmalert 1.79 does not know",
    )
    out.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")


def run_rules_command(args: argparse.Namespace, settings: Any) -> int:
    target: Target = args.target
    groups = build_rule_groups(
        settings.alerts,
        objectives(settings.slos),
        settings.slos.budget_alert_ratio,
        settings.slos.threshold_step_s,
    )
    text = export(groups, settings.alerts.evaluation_interval_s, target)
    if args.output:
        try:
            Path(args.output).write_text(text, encoding="utf-8")
        except OSError as exc:
            print(f"cannot write {args.output}: {exc}", file=sys.stderr)
            return 1
    else:
        sys.stdout.write(text)
    return 0
