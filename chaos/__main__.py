"""``hostvitals-chaos``: run the chaos experiments against a private stack and report."""

from __future__ import annotations

import argparse
import signal
import sys
import traceback
from pathlib import Path

from hostvitals.chaos.experiments import EXPERIMENTS, PROFILES, Experiment, Profile, select
from hostvitals.chaos.procs import check_stop, on_stop_signal
from hostvitals.chaos.report import table, write
from hostvitals.chaos.runner import Result, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hostvitals-chaos", description=__doc__)
    parser.add_argument("--profile", choices=sorted(PROFILES), default="full")
    parser.add_argument(
        "--only", action="append", metavar="NAME", help="run only this experiment (repeatable)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("var/chaos"),
        help="where report.md and report.json go (default: var/chaos)",
    )
    parser.add_argument("--list", action="store_true", help="list the experiments and exit")
    args = parser.parse_args(argv)
    if args.list:
        for e in EXPERIMENTS:
            print(f"{e.name}: {e.hypothesis}")
        return 0
    try:
        experiments = select(args.only)
    except ValueError as exc:
        parser.error(str(exc))
    for stop in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(stop, on_stop_signal)  # unwinds through every stack's cleanup
    profile = PROFILES[args.profile]
    results: list[Result] = []
    try:
        for experiment in experiments:
            check_stop()
            print(f"running {experiment.name} ({profile.fault_s:g} s fault)...", flush=True)
            results.append(_run_one(experiment, profile))
            write(results, args.out, profile.name)
        check_stop()  # a stop whose first raise was lost (see on_stop_signal)
    except KeyboardInterrupt:  # the stack is already stopped and removed
        done = f"{len(results)} of {len(experiments)}"
        print(f"interrupted after {done} experiments", file=sys.stderr)
        return 130
    print(table(results))
    print(f"report: {args.out / 'report.md'}, {args.out / 'report.json'}")
    return 0 if results and all(r.passed for r in results) else 1


def _run_one(experiment: Experiment, profile: Profile) -> Result:
    try:
        return run(experiment, profile)
    except Exception as exc:  # one broken experiment must not hide the others
        traceback.print_exc()
        fault = experiment.fault(profile).describe()
        result = Result(experiment.name, experiment.hypothesis, fault, profile.fault_s)
        result.failures.append(f"error: {exc}")
        return result


if __name__ == "__main__":
    sys.exit(main())
