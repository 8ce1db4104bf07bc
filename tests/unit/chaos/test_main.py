"""hostvitals-chaos exits non-zero when a hypothesis fails, and reports every experiment."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from hostvitals.chaos import __main__ as cli
from hostvitals.chaos.experiments import Experiment, Profile
from hostvitals.chaos.runner import Result, _judge


def fake_run(failing: set[str]) -> Callable[[Experiment, Profile], Result]:
    def run(experiment: Experiment, profile: Profile) -> Result:
        result = Result(experiment.name, experiment.hypothesis, "fault", profile.fault_s)
        result.expected_samples = 30
        result.recovery_s = 1.5
        result.lost_samples = 3 if experiment.name in failing else 0
        _judge(result)
        return result

    return run


def test_all_hypotheses_hold_exit_zero(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(cli, "run", fake_run(set()))
    assert cli.main(["--profile", "short", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert all(r["passed"] for r in report)
    for key in (
        "experiment",
        "hypothesis",
        "expected_samples",
        "lost_samples",
        "duplicated_samples",
        "recovery_s",
        "passed",
    ):
        assert key in report[0]


def test_one_failed_hypothesis_exits_non_zero(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "run", fake_run({"vm-killed"}))
    assert cli.main(["--profile", "short", "--out", str(tmp_path)]) == 1
    report = {r["experiment"]: r for r in json.loads((tmp_path / "report.json").read_text())}
    assert report["vm-killed"]["failures"] == ["3 samples lost"]
    assert "FAIL: 3 samples lost" in capsys.readouterr().out
    assert "| vm-killed |" in (tmp_path / "report.md").read_text()


def test_a_broken_experiment_is_reported_and_the_others_still_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    passing = fake_run(set())

    def run(experiment: Experiment, profile: Profile) -> Result:
        if experiment.name == "agent-killed":
            raise RuntimeError("collector did not start")
        return passing(experiment, profile)

    monkeypatch.setattr(cli, "run", run)
    assert cli.main(["--profile", "short", "--out", str(tmp_path)]) == 1
    report = {r["experiment"]: r for r in json.loads((tmp_path / "report.json").read_text())}
    assert report["agent-killed"]["failures"] == ["error: collector did not start"]
    assert report["memory-pressure"]["passed"]


def test_slow_recovery_and_5xx_answers_fail() -> None:
    slow = Result("x", "h", "f", 3, recovery_s=31.0)
    _judge(slow)
    assert slow.failures == ["recovery 31.0 s > 30 s"]
    errors = Result("x", "h", "f", 3, recovery_s=1.0, answers={"500": 1, "503": 4})
    _judge(errors)
    assert errors.failures == ["collector answered {'500': 1}"]
    bare = Result("x", "h", "f", 3, recovery_s=1.0, answers={"503": 4})
    bare.answers_503_without_retry_after = 2
    _judge(bare)
    assert bare.failures == ["2 503s without Retry-After"]


def test_an_unknown_experiment_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["--only", "no-such-thing"])
    assert exc.value.code == 2
