"""Agent cost per flushed frame: CPU and instructions watched and not, against a stub collector.

Runs hostvitals-agent at a 1 s interval against a stub collector (a small HTTP server in a
process of its own, answering 204 like the real one and keeping idle connections for 5 s like
uvicorn), so that nothing but the agent's own work is measured and no VictoriaMetrics is
needed. Two phases of ``--duration`` seconds each:

- not watched: the stub answers without ``Hostvitals-Flush-Interval``, so the agent flushes a
  frame every ``flush_interval`` (10 s);
- watched: the stub answers with ``Hostvitals-Flush-Interval: 1``, as the collector does while
  someone watches the host, so the agent flushes a frame every tick.

Prints per phase the ticks, the frames the stub received, the agent's CPU (user + system, %
of one core and ms per tick) and, the difference of the two phases divided by the extra
frames, the cost of one flushed frame.

``--callgrind`` runs the agent under valgrind's callgrind and also prints instructions per
tick and per extra frame (user-space instructions: repeatable, unlike CPU time on a shared
machine). Valgrind slows the agent down about fifty times, so ``--light`` turns off the
samplers that cannot keep up with a 1 s tick under it (processes, filesystem, sockets, info);
the cost per frame is what matters there, and it depends little on them.
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
from common import console_script, print_table

from tests.support.processes import ManagedProcess, free_port, wait_until

FLUSH_INTERVAL_HEADER = "Hostvitals-Flush-Interval"
LIGHT_OFF = ("processes", "filesystem", "sockets", "info")
CLK_TCK = os.sysconf("SC_CLK_TCK")


# -- the stub collector (run in its own process with --serve) ---------------------------------


class _State:
    watched = False
    frames = 0
    bytes = 0
    lock = threading.Lock()


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 5.0  # idle keep-alive connections close after 5 s, as uvicorn's do

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path == "/watch":
            _State.watched = body == b"1"
            self._answer(204)
            return
        with _State.lock:
            _State.frames += 1
            _State.bytes += len(body)
        self._answer(204, {FLUSH_INTERVAL_HEADER: "1"} if _State.watched else {})

    def do_GET(self) -> None:
        if self.path == "/api/v1/health":
            self._answer(200, body=b"{}")
            return
        with _State.lock:
            data = json.dumps({"frames": _State.frames, "bytes": _State.bytes}).encode()
        self._answer(200, body=data)

    def _answer(
        self, status: int, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if status != 204:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def serve(port: int) -> None:
    http.server.ThreadingHTTPServer(("127.0.0.1", port), _Handler).serve_forever()


# -- measuring ---------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def callgrind(pid: int, command: str, out: Path | None = None) -> int:
    """Zero (``-z``) or dump (``-d``) the counters of a callgrind run; a dump's instructions."""
    before = set(out.parent.glob(out.name + ".*")) if out is not None else set()
    subprocess.run(
        ["callgrind_control", command, str(pid)], check=True, capture_output=True, timeout=60
    )
    if out is None:
        return 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        new = set(out.parent.glob(out.name + ".*")) - before
        for path in new:
            for line in path.read_text(errors="replace").splitlines():
                if line.startswith("summary:"):
                    return int(line.split()[1])
        time.sleep(0.5)
    raise TimeoutError("callgrind wrote no dump")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds per phase")
    parser.add_argument("--warmup", type=float, default=15.0, help="seconds before each phase")
    parser.add_argument("--callgrind", action="store_true", help="count instructions too")
    parser.add_argument("--light", action="store_true", help=f"turn off {', '.join(LIGHT_OFF)}")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    if args.callgrind and shutil.which("valgrind") is None:
        raise SystemExit("valgrind is missing: apt-get install valgrind")

    results: list[tuple[str, float, int, float, int | None, float]] = []
    with tempfile.TemporaryDirectory(prefix="hostvitals-bench-") as tmp:
        root = Path(tmp)
        port = free_port()
        stub = ManagedProcess([sys.executable, __file__, "--serve", str(port)], root / "stub.log")
        stub.start()
        base = f"http://127.0.0.1:{port}"
        env = {"HOSTVITALS_AGENT_LOG_LEVEL": "warning"}
        if args.light:
            for name in LIGHT_OFF:
                env[f"HOSTVITALS_AGENT_SAMPLERS__{name.upper()}__ENABLED"] = "false"
        argv = [
            console_script("hostvitals-agent"),
            "--interval",
            "1",
            "--collector-url",
            base,
            "--state-dir",
            str(root / "agent"),
            "--host",
            "bench-agent",
        ]
        out = root / "callgrind.out"
        if args.callgrind:
            argv = [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={out}",
                sys.executable,
                *argv,
            ]
        agent = ManagedProcess(argv, root / "agent.log", env=env)
        try:
            wait_until(lambda: _get(f"{base}/api/v1/health") is not None, 30, "stub collector")
            agent.start()
            wait_until(lambda: _frames(base) > 0, 300, "the agent's first frame", step=1)
            for phase in ("not watched", "watched"):
                requests.post(f"{base}/watch", data=b"1" if phase == "watched" else b"0")
                time.sleep(args.warmup)
                if not agent.running():
                    raise SystemExit(f"the agent exited:\n{agent.log_tail()}")
                if args.callgrind:
                    callgrind(agent.pid, "-z")
                frames0, cpu0, t0 = _frames(base), cpu_seconds(agent.pid), time.monotonic()
                print(f"{phase}: measuring for {args.duration:g} s...", flush=True)
                time.sleep(args.duration)
                instructions = callgrind(agent.pid, "-d", out) if args.callgrind else None
                elapsed = time.monotonic() - t0
                frames, cpu = _frames(base) - frames0, cpu_seconds(agent.pid) - cpu0
                results.append((phase, elapsed, frames, cpu, instructions, rss_mb(agent.pid)))
        finally:
            agent.stop()
            stub.stop()
    report(results)


def _get(url: str) -> dict[str, int] | None:
    try:
        answer = requests.get(url, timeout=2)
    except requests.RequestException:
        return None
    return dict(answer.json()) if answer.ok else None


def _frames(base: str) -> int:
    stats = _get(f"{base}/stats")
    assert stats is not None, "the stub collector does not answer"
    return stats["frames"]


def report(results: list[tuple[str, float, int, float, int | None, float]]) -> None:
    rows = []
    for phase, elapsed, frames, cpu, instructions, rss in results:
        ticks = round(elapsed)
        rows.append(
            (
                phase,
                str(ticks),
                str(frames),
                f"{100 * cpu / elapsed:.2f}",
                f"{1000 * cpu / ticks:.2f}",
                "-" if instructions is None else f"{instructions / ticks / 1e6:.2f}",
                f"{rss:.1f}",
            )
        )
    print_table(
        rows, ("phase", "ticks", "frames", "CPU %", "CPU ms/tick", "M instr/tick", "RSS MB")
    )
    (_, e0, f0, c0, i0, _), (_, e1, f1, c1, i1, _) = results
    extra = f1 / e1 - f0 / e0  # frames per second more while watched
    if extra > 0:
        print(f"\nper extra frame: CPU {1000 * (c1 / e1 - c0 / e0) / extra:.2f} ms", end="")
        if i0 is not None and i1 is not None:
            print(f", {(i1 / e1 - i0 / e0) / extra / 1e6:.2f} M instructions", end="")
        print()
    print(f"watched / not watched CPU: {(c1 / e1) / (c0 / e0):.2f}")


if __name__ == "__main__":
    main()
