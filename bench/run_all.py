"""Run every benchmark in turn (`make bench`). Each prints its own figures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Ingest scaling: past one process's ceiling (about 560,000 samples/s here), one collector
# against two replicas sharing the same fleet and offered rate.
SCALING = ["--rate", "800000", "--agents", "4000", "--duration", "15", "--no-peer", "--no-watch"]
BENCHMARKS: list[tuple[str, list[str]]] = [
    ("agent_footprint.py", []),
    ("agent_frame_cost.py", []),
    ("api_latency.py", []),
    ("isolation_ingest.py", []),
    ("freshness.py", []),
    ("fleet.py", []),
    # Three whole runs: the median and range of the steady p99 and rate are printed.
    ("ingest.py", ["--runs", "3"]),
    ("isolation_queries.py", []),
    ("ingest.py", [*SCALING, "--collectors", "1"]),
    ("ingest.py", [*SCALING, "--collectors", "2"]),
]


def main() -> int:
    failed = []
    for name, args in BENCHMARKS:
        title = " ".join([name, *args])
        print(f"\n=== {title} ===", flush=True)
        if subprocess.run([sys.executable, str(HERE / name), *args, *sys.argv[1:]]).returncode:
            failed.append(title)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
