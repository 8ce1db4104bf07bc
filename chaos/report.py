"""The report: a table on the terminal, ``report.md`` and ``report.json``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from hostvitals.chaos.runner import Result

COLUMNS = ("experiment", "expected", "lost", "dup", "recovery s", "answers", "spool KiB", "result")


def _row(r: Result) -> list[str]:
    recovery = "-" if r.recovery_s is None else f"{r.recovery_s:.1f}"
    answers = " ".join(f"{c}:{n}" for c, n in r.answers.items()) or "-"
    verdict = "pass" if r.passed else "FAIL: " + "; ".join(r.failures)
    return [
        r.experiment,
        str(r.expected_samples),
        str(r.lost_samples),
        str(r.duplicated_samples),
        recovery,
        answers,
        f"{r.spool_high_water_bytes / 1024:.0f}",
        verdict,
    ]


def table(results: Sequence[Result]) -> str:
    rows = [list(COLUMNS), *(_row(r) for r in results)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def markdown(results: Sequence[Result], profile: str) -> str:
    out = [
        f"# Chaos report ({profile} profile)",
        "",
        "| experiment | fault | expected | lost | duplicated | recovery (s) | answers | "
        "spool high water (bytes) | RSS growth collector / agent (MB) | result |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        cells = _row(r)
        out.append(
            f"| {r.experiment} | {r.fault}, {r.fault_s:g} s | {cells[1]} | {cells[2]} | "
            f"{cells[3]} | {cells[4]} | {cells[5]} | {r.spool_high_water_bytes} | "
            f"{r.collector_rss_growth_mb} / {r.agent_rss_growth_mb} | {cells[7]} |"
        )
    out += ["", "## Per tier", ""]
    for r in results:
        tiers = ", ".join(
            f"{name}: {c['expected']} expected, {c['lost']} lost, {c['duplicated']} duplicated"
            for name, c in r.tiers.items()
        )
        out.append(f"- **{r.experiment}**: {r.hypothesis}. {tiers or 'not measured'}.")
    return "\n".join(out) + "\n"


def write(results: Sequence[Result], directory: Path, profile: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "report.md").write_text(markdown(results, profile))
    body = json.dumps([r.as_dict() for r in results], indent=2)
    (directory / "report.json").write_text(body + "\n")
