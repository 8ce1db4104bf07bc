"""The full-spool e2e test's reading of VictoriaMetrics: it stops only where every drop is
counted. The figures are those of a run on a loaded machine that read too early: the drop of
the outage's 14th tick showed only in the newest tick, the first to report an empty spool.
"""

from __future__ import annotations

from typing import Any

from tests.e2e.agent_support import counter_total, last_empty_spool, settled_until

BACK_MS = 1_796_175_780_500
"""When the collector was back, plus the test's margin."""
DROPS = {780_000: 319.0, 781_000: 348.0, 782_000: 377.0, 783_000: 406.0, 784_000: 406.0}
SPOOL = {780_000: 10.0, 781_000: 10.0, 782_000: 10.0, 783_000: 0.0, 784_000: 0.0}


def reading(newest_ms: int) -> list[dict[str, Any]]:
    """The host's series as exported when ``newest_ms`` was the newest tick written."""
    base = 1_796_175_000_000

    def series(name: str, values: dict[int, float], **labels: str) -> dict[str, Any]:
        ticks = [t for t in sorted(values) if base + t <= newest_ms]
        return {
            "metric": {"__name__": name, "host": "h", **labels},
            "timestamps": [base + t for t in ticks],
            "values": [values[t] for t in ticks],
        }

    flat = dict.fromkeys(DROPS, 0.0)
    return [
        series("node_load1", flat),
        series("hostvitals_agent_ticks_skipped_total", flat),
        series("hostvitals_agent_spool_frames", SPOOL),
        series("hostvitals_agent_dropped_samples_total", DROPS, reason="spool_full"),
    ]


def drops_until(snapshot: list[dict[str, Any]], until: int) -> float:
    (series,) = [s for s in snapshot if s["metric"]["__name__"].endswith("dropped_samples_total")]
    pairs = sorted(zip(series["timestamps"], series["values"], strict=True))
    return counter_total(v for ts, v in pairs if ts <= until)


def test_a_reading_whose_newest_tick_first_reports_the_empty_spool_is_not_settled() -> None:
    snapshot = reading(1_796_175_783_000)
    assert settled_until(snapshot, BACK_MS) is None
    # what stopping a tick before the newest would have counted: 13 of the 14 drops
    assert drops_until(snapshot, 1_796_175_782_000) == 377.0


def test_a_reading_past_the_first_empty_spool_counts_every_drop() -> None:
    snapshot = reading(1_796_175_784_000)
    until = settled_until(snapshot, BACK_MS)
    assert until == 1_796_175_783_000
    assert drops_until(snapshot, until) == 406.0


def test_an_empty_spool_before_the_collector_came_back_does_not_settle_it() -> None:
    assert settled_until(reading(1_796_175_784_000), 1_796_175_783_500) is None


def test_the_frontier_before_an_outage_is_the_newest_empty_spool() -> None:
    assert last_empty_spool(reading(1_796_175_782_000)) is None  # the spool was never empty
    assert last_empty_spool(reading(1_796_175_784_000)) == 1_796_175_784_000
