"""Isolation: what other clients see while one client hammers heavy queries, and while a
thousand slow connections are held open, each side by side with a quiet baseline of the
same run.

One run starts a private VictoriaMetrics and collector at their defaults, imports 1 h of
``--series`` heavy series (one sample per 15 s) and 1 h of one host's catalogue metrics,
and measures "others": one client at a time asking the history API for that host's CPU
over 1 h (``nocache=1``, so every answer is computed in VictoriaMetrics) and the health
endpoint. Three phases, each ``--duration`` seconds:

- quiet: nobody else;
- heavy: one client (another address) sends ``sum(rate(heavy[1m]))`` over 1 h at a 1 s step
  through ``/api/v1/query_range`` (``nocache=1``) from ``--heavy-threads`` threads in a loop;
- slow: ``--slow`` connections from ten other addresses send half a request head and are
  opened again whenever the collector closes them.

Prints p50/p99/max of the others' latency per phase and what the heavy and slow clients
got. Targets: history API p99 for others under 200 ms while heavy queries run; new clients
served at their quiet latency while the slow connections are open.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlencode

import httpx
import orjson
import requests
from common import console_script, print_table
from stack import backfill_raw

from tests.support.processes import (
    ManagedProcess,
    VictoriaMetrics,
    free_port,
    http_ok,
    wait_until,
)

HOST = "bench-host"
SETTLE_S = 12.0  # query.max_duration_s (10 s) and a margin


def import_heavy(vm: VictoriaMetrics, series: int, end_s: int) -> None:
    stamps = [(end_s - 3600 + i * 15) * 1000 for i in range(240)]
    values = [float(i) for i in range(240)]
    for first in range(0, series, 5000):
        lines = [
            orjson.dumps(
                {
                    "metric": {"__name__": "heavy", "i": str(i)},
                    "values": values,
                    "timestamps": stamps,
                }
            )
            for i in range(first, min(series, first + 5000))
        ]
        requests.post(f"{vm.url}/api/v1/import", data=b"\n".join(lines), timeout=300)
    vm.flush()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(urls: dict[str, str], seconds: float, errors: Counter[str]) -> dict[str, list[float]]:
    """Latencies (ms) of each URL, asked in turn by one client for ``seconds``; answers
    other than 200 are counted in ``errors`` by URL name and status."""
    out: dict[str, list[float]] = {name: [] for name in urls}
    session = requests.Session()
    stop = time.monotonic() + seconds
    while time.monotonic() < stop:
        for name, url in urls.items():
            started = time.perf_counter()
            answer = session.get(url, timeout=120)
            out[name].append((time.perf_counter() - started) * 1000)
            if answer.status_code != 200:
                errors[f"{name}: {answer.status_code}"] += 1
    return out


class Background:
    """Threads running ``work(stop)`` until stopped."""

    def __init__(self, threads: int, work: Callable[[threading.Event], None]) -> None:
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=work, args=(self.stop,)) for _ in range(threads)]

    def __enter__(self) -> Background:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(120)


def heavy_worker(base: str, statuses: Counter[int]) -> Callable[[threading.Event], None]:
    def work(stop: threading.Event) -> None:
        # Another loopback address: the heavy client is not the others.
        transport = httpx.HTTPTransport(local_address="127.0.0.2")
        session = httpx.Client(transport=transport, timeout=120)
        while not stop.is_set():
            now = time.time()
            params = {
                "query": "sum(rate(heavy[1m]))",
                "start": str(now - 3600),
                "end": str(now),
                "step": "1s",
                "nocache": "1",
            }
            answer = session.get(f"{base}/api/v1/query_range", params=params)
            statuses[answer.status_code] += 1
            if answer.status_code == 429:
                stop.wait(float(answer.headers.get("Retry-After", "1")))

    return work


def slow_worker(port: int, count: int, closed: Counter[str]) -> Callable[[threading.Event], None]:
    def work(stop: threading.Event) -> None:
        socks: list[socket.socket] = []

        def open_one(i: int) -> socket.socket:
            sock = socket.create_connection(
                ("127.0.0.1", port), timeout=5, source_address=(f"127.0.3.{i % 10 + 1}", 0)
            )
            sock.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: collector\r\nX-Slow: ")
            sock.setblocking(False)
            return sock

        for i in range(count):
            socks.append(open_one(i))
        while not stop.is_set():
            for i, sock in enumerate(socks):
                try:
                    data = sock.recv(4096)
                except BlockingIOError:
                    continue
                closed["408" if data.startswith(b"HTTP/1.1 408") else "other"] += 1
                sock.close()
                socks[i] = open_one(i)
            stop.wait(0.2)
        for sock in socks:
            sock.close()

    return work


def summary(name: str, values: list[float]) -> tuple[str, ...]:
    return (
        name,
        f"{statistics.median(values):.1f}",
        f"{percentile(values, 0.99):.1f}",
        f"{max(values):.1f}",
        str(len(values)),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per phase")
    parser.add_argument("--series", type=int, default=20_000, help="heavy series")
    parser.add_argument("--heavy-threads", type=int, default=6)
    parser.add_argument("--slow", type=int, default=1000, help="slow connections")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="hostvitals-bench-") as tmp:
        root = Path(tmp)
        vm = VictoriaMetrics(data_dir=root / "vm")
        vm.start()
        procs: list[ManagedProcess] = []
        try:
            end = int(time.time())
            backfill_raw(vm.url, HOST, end)
            import_heavy(vm, args.series, end)
            port = free_port()
            collector = ManagedProcess(
                [console_script("hostvitals-collector"), "--port", str(port)],
                root / "collector.log",
                env={
                    "HOSTVITALS__VICTORIAMETRICS__URL": vm.url,
                    "HOSTVITALS__TIERS__ROLLUPS": "[]",
                },
            )
            collector.start()
            procs.append(collector)
            base = f"http://127.0.0.1:{port}"
            wait_until(http_ok(f"{base}/api/v1/health"), 30, "collector")

            family = urlencode({"host": HOST, "start": end - 3600, "end": end, "nocache": "1"})
            others = {
                "history cpu 1 h": f"{base}/api/v1/metrics/cpu?{family}",
                "health": f"{base}/api/v1/health",
            }
            rows = []
            errors: Counter[str] = Counter()
            quiet = measure(others, args.duration, errors)
            rows += [summary(f"quiet: {name}", v) for name, v in quiet.items()]

            heavy: Counter[int] = Counter()
            with Background(args.heavy_threads, heavy_worker(base, heavy)):
                time.sleep(1.0)
                loaded = measure(others, args.duration, errors)
            rows += [summary(f"heavy client: {name}", v) for name, v in loaded.items()]
            # A heavy query already sent runs on for up to query.max_duration_s.
            time.sleep(SETTLE_S)

            closed: Counter[str] = Counter()
            per_thread = args.slow // 10
            with Background(10, slow_worker(port, per_thread, closed)):
                time.sleep(1.0)
                slowed = measure(others, args.duration, errors)
            rows += [summary(f"{args.slow} slow conns: {name}", v) for name, v in slowed.items()]

            print_table(rows, ("others' requests", "p50 ms", "p99 ms", "max ms", "n"))
            print(f"others' answers other than 200: {dict(errors)}")
            print(f"heavy client's answers by status: {dict(sorted(heavy.items()))}")
            print(f"slow connections closed by the collector: {dict(closed)}")
        finally:
            for proc in reversed(procs):
                proc.stop()
            vm.stop()


if __name__ == "__main__":
    main()
