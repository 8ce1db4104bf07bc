"""CPU time of one process scan and one cgroup scan, in this process, on this host as it is
and on a busy host (``busyhost.py``): the part of the agent's cost that grows with the host.

The agent's own ``hostvitals_agent_sampler_duration_seconds`` is wall time, which on a loaded
machine includes waiting for a core; this measures the scans' CPU time alone (median of
``runs`` scans after one warm-up scan, as the agent keeps its handles between scans).

    .venv/bin/python bench/scancost.py --processes 300 --cgroups 200
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import psutil
from busyhost import busy_host
from common import print_table

from hostvitals.agent.samplers.cgroup_mounts import find_layout
from hostvitals.agent.samplers.cgroups import CgroupsSampler, source_for
from hostvitals.agent.samplers.paths import HostPaths, read_small
from hostvitals.agent.samplers.processes import ProcessesSampler


def scan_cpu_ms(collect: Callable[[], object], runs: int) -> float:
    collect()
    times = []
    for _ in range(runs):
        time.sleep(0.2)  # a little CPU to rank by between scans
        started = time.process_time()
        collect()
        times.append(1000 * (time.process_time() - started))
    return statistics.median(times)


def workloads_seen() -> int:
    source = source_for(find_layout(HostPaths()), read_small)
    return 0 if source is None else sum(1 for _ in source.workloads())


def measure(runs: int) -> tuple[str, str, str, str]:
    processes = ProcessesSampler()
    cgroups = CgroupsSampler()
    return (
        str(len(psutil.pids())),
        f"{scan_cpu_ms(processes.collect, runs):.1f}",
        str(workloads_seen()),
        f"{scan_cpu_ms(cgroups.collect, runs):.1f}",
    )


def scan_costs(extra_processes: int, extra_cgroups: int, runs: int = 5) -> None:
    print(f"\nscan CPU time in one process (median of {runs} scans):")
    rows = [("this host", *measure(runs))]
    with busy_host(extra_processes, extra_cgroups) as busy:
        rows.append(
            (f"+{len(busy.processes)} processes, +{len(busy.groups)} cgroups", *measure(runs))
        )
    print_table(
        rows,
        ("host", "processes", "process scan CPU ms", "cgroup workloads", "cgroup scan CPU ms"),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=300)
    parser.add_argument("--cgroups", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    scan_costs(args.processes, args.cgroups, args.runs)


if __name__ == "__main__":
    main()
