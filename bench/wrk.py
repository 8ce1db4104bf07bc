"""Run ``wrk`` against one URL and read its latency distribution and throughput."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from dataclasses import dataclass

PERCENTILES = (50, 75, 90, 99)


@dataclass(frozen=True)
class Load:
    """One URL under load: wrk's latency percentiles (ms), requests per second and errors,
    and when it ran (Unix seconds)."""

    name: str
    percentiles_ms: dict[int, float]
    rps: float
    errors: int
    started_at: float

    @property
    def p50_ms(self) -> float:
        return self.percentiles_ms[50]

    @property
    def p99_ms(self) -> float:
        return self.percentiles_ms[99]


def require_wrk() -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing; `make bench` installs it")


def wrk(url: str, seconds: float, connections: int, name: str, threads: int = 2) -> Load:
    """``wrk -t2 -c<connections> -d<seconds>s --latency`` on ``url``."""
    started = time.time()
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds:g}s",
            "--latency",
            "--timeout",
            "10s",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    def ms(label: int) -> float:
        found = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
        if not found:
            raise RuntimeError(f"wrk printed no {label}th percentile:\n{out}")
        value, unit = float(found.group(1)), found.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    socket_errors = re.search(r"Socket errors: .*", out)
    if socket_errors:
        print(f"  {name}: {socket_errors.group(0)}")
    return Load(
        name,
        {p: ms(p) for p in PERCENTILES},
        float(rps.group(1)) if rps else 0.0,
        int(errors.group(1)) if errors else 0,
        started,
    )
