"""SLO test data in a real VictoriaMetrics: request counters with a known error budget spend."""

from __future__ import annotations

import time
import uuid

import orjson
import requests

from hostvitals.collector.config.settings import Settings
from tests.support.collector_app import settings
from tests.support.processes import VictoriaMetrics

GOOD, TOTAL = "test_requests_good_total", "test_requests_total"


def import_counter(
    vm: VictoriaMetrics, name: str, labels: dict[str, str], points: list[tuple[int, float]]
) -> None:
    line = {
        "metric": {"__name__": name, **labels},
        "values": [v for _, v in points],
        "timestamps": [t for t, _ in points],
    }
    requests.post(f"{vm.url}/api/v1/import", data=orjson.dumps(line), timeout=10).raise_for_status()


def seed_two_percent_errors_last_hour(vm: VictoriaMetrics, prefix: str) -> tuple[str, int, int]:
    """Three days and two hours of 1000 requests a minute, 2 % of them failing in the last hour,
    under a new ``slo`` label value. Returns that value, the first and the last minute."""
    slo = f"{prefix}-{uuid.uuid4().hex[:6]}"
    now = int(time.time())
    start = now - 3 * 86_400 - 7200
    total, good = 0.0, 0.0
    points_total: list[tuple[int, float]] = []
    points_good: list[tuple[int, float]] = []
    for t in range(start, now + 1, 60):
        total += 1000
        good += 1000 if t < now - 3600 else 980
        points_total.append((t * 1000, total))
        points_good.append((t * 1000, good))
    import_counter(vm, TOTAL, {"slo": slo}, points_total)
    import_counter(vm, GOOD, {"slo": slo}, points_good)
    vm.flush()
    return slo, start, now


def slo_settings(vm: VictoriaMetrics, slo: str, **objective: object) -> Settings:
    """A collector on ``vm`` with one request SLO over the seeded counters of ``slo`` (99.9 %),
    and no built-in SLOs; ``objective`` adds or overrides fields (``window_s``...)."""
    return settings(
        victoriametrics={"url": vm.url},
        slos={
            "builtin": False,
            "objectives": [
                {
                    "name": slo,
                    "target": 0.999,
                    "indicators": [
                        {
                            "name": "requests",
                            "good": f'sum(increase({GOOD}{{slo="{slo}"}}[$window]))',
                            "total": f'sum(increase({TOTAL}{{slo="{slo}"}}[$window]))',
                        }
                    ],
                    **objective,
                }
            ],
        },
    )
