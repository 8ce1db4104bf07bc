"""What the series and byte caps on a query's answer cost (collector/vm/answers.py), on
answers of VictoriaMetrics' shape built here: the count as the chunks come, the whole
answer's parse (well-formed, and the exact count), and for comparison a full ``orjson.loads``
(what parsing the answer into Python objects would cost).

Both checks run in the worker thread that reads the answer, but neither lets go of the GIL
while it runs: the whole parse is the longest the event loop can wait for it.

    .venv/bin/python bench/answer_check.py --series 10000 --points 1 60 300
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from functools import partial

import orjson
from common import print_table

from hostvitals.collector.vm.answers import SeriesScan, count_items
from hostvitals.collector.vm.transport import CHUNK_BYTES

URL = "http://vm.bench:8428"


def answer(series: int, points: int) -> tuple[str, bytes]:
    """An instant (one point) or range answer of ``series`` host-like series."""
    start = 1_764_633_600
    items = []
    for i in range(series):
        labels = {"__name__": "node_cpu_seconds_total", "host": f"host-{i:05d}", "mode": "user"}
        labels["cpu"] = str(i % 16)
        if points == 1:
            items.append({"metric": labels, "value": [start, f"{i * 0.731:.6g}"]})
        else:
            values = [[start + 15 * p, f"{(i + p) * 0.731:.6g}"] for p in range(points)]
            items.append({"metric": labels, "values": values})
    kind, path = ("vector", "/api/v1/query") if points == 1 else ("matrix", "/api/v1/query_range")
    body = {"status": "success", "data": {"resultType": kind, "result": items}}
    return path, orjson.dumps(body)


def chunked(body: bytes) -> list[bytes]:
    """The body in the chunks it is read in (split beforehand: not part of the cost)."""
    return [body[start : start + CHUNK_BYTES] for start in range(0, len(body), CHUNK_BYTES)]


def scan(chunks: list[bytes], series: int) -> None:
    watch = SeriesScan(series)
    for chunk in chunks:
        watch(chunk)
    assert watch.count == series


def timed_ms(run: Callable[[], object], runs: int) -> tuple[float, float, float]:
    """Median, lowest and highest wall time of ``runs`` calls after a warm-up, in ms."""
    run()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        run()
        times.append(1000 * (time.perf_counter() - started))
    return statistics.median(times), min(times), max(times)


def cell(figures: tuple[float, float, float]) -> str:
    median, low, high = figures
    return f"{median:.1f} ({low:.1f}-{high:.1f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=10_000)
    parser.add_argument("--points", type=int, nargs="+", default=[1, 60, 300])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--no-orjson", action="store_true", help="skip the comparison")
    args = parser.parse_args()
    rows = []
    for points in args.points:
        path, body = answer(args.series, points)
        chunks = chunked(body)
        assert count_items(path, body, URL) == args.series
        rows.append(
            (
                f"{args.series} x {points}",
                f"{len(body) / 1e6:.1f}",
                cell(timed_ms(partial(scan, chunks, args.series), args.runs)),
                cell(timed_ms(partial(count_items, path, body, URL), args.runs)),
                "-" if args.no_orjson else cell(timed_ms(partial(orjson.loads, body), 3)),
            )
        )
    print(f"\nanswer checks, ms: median (lowest-highest) of {args.runs} runs")
    print_table(
        rows,
        ("series x points", "MB", "chunk scan", "whole parse", "orjson.loads, 3 runs (comparison)"),
    )


if __name__ == "__main__":
    main()
