"""SLO definitions: the configured ones plus hostvitals' own, and their PromQL."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from hostvitals.collector.alerts.model import format_number
from hostvitals.collector.alerts.selfscrape import SELF_JOB
from hostvitals.collector.alerts.slo import duration_text, subquery_step
from hostvitals.collector.config.slos import WINDOW_PLACEHOLDER, IndicatorSettings, SlosSettings
from hostvitals.collector.config.vocabulary import Op

INGEST_SLO: Final = "hostvitals-ingest"
FRESHNESS_SLO: Final = "hostvitals-freshness"
# Ingest refusals that are the collector's fault; the others are the client's.
SERVER_REASONS: Final = "queue_full|vm_unavailable|vm_rejected|shutting_down"


@dataclass(frozen=True, slots=True)
class Indicator:
    name: str
    good: str | None = None
    total: str | None = None
    expr: str | None = None
    op: Op | None = None
    threshold: float | None = None

    def error_ratio(self, window_s: int, step_s: int) -> str:
        """PromQL for the share of bad events (or bad time) over ``window_s``."""
        window = duration_text(window_s)
        if self.good is not None and self.total is not None:
            good = self.good.replace(WINDOW_PLACEHOLDER, window)
            total = self.total.replace(WINDOW_PLACEHOLDER, window)
            return f"1 - (({good}) / ({total}))"
        assert self.expr is not None and self.op is not None and self.threshold is not None
        # `>= -Inf` drops NaN points (no data) so they count neither as good nor as bad.
        condition = f"(({self.expr}) >= -Inf) {self.op} bool {format_number(self.threshold)}"
        step = duration_text(subquery_step(window_s, step_s))
        return f"1 - avg_over_time(({condition})[{window}:{step}])"


@dataclass(frozen=True, slots=True)
class Objective:
    name: str
    description: str
    target: float
    window_s: int
    indicators: tuple[Indicator, ...]
    labels: Mapping[str, str] = field(default_factory=dict)


def _indicator(spec: IndicatorSettings) -> Indicator:
    return Indicator(spec.name, spec.good, spec.total, spec.expr, spec.op, spec.threshold)


def builtin_objectives(settings: SlosSettings) -> list[Objective]:
    """hostvitals' own SLOs, over the collector's metrics it writes to VictoriaMetrics."""
    job = f'job="{SELF_JOB}"'
    accepted = (
        f"sum(increase(hostvitals_collector_ingest_frames_total{{{job}}}[$window])) + "
        f"sum(increase(hostvitals_collector_ingest_duplicates_total{{{job}}}[$window]))"
    )
    failed = (
        "sum(increase(hostvitals_collector_ingest_rejected_total"
        f'{{{job},reason=~"{SERVER_REASONS}"}}[$window]))'
    )
    p99 = (
        "histogram_quantile(0.99, sum by (le) "
        f"(rate(hostvitals_collector_freshness_seconds_bucket{{{job}}}[5m])))"
    )
    return [
        Objective(
            name=INGEST_SLO,
            description="Frames sent to the collector are accepted and stored.",
            target=settings.ingest_target,
            window_s=settings.window_s,
            indicators=(
                Indicator("ingest-success", good=accepted, total=f"{accepted} + {failed}"),
            ),
        ),
        Objective(
            name=FRESHNESS_SLO,
            description=(
                "The newest sample of a frame is stored within "
                f"{format_number(settings.freshness_threshold_s)} s (p99)."
            ),
            target=settings.freshness_target,
            window_s=settings.window_s,
            indicators=(
                Indicator(
                    "p99-sample-to-stored",
                    expr=p99,
                    op="<=",
                    threshold=settings.freshness_threshold_s,
                ),
            ),
        ),
    ]


def objectives(settings: SlosSettings) -> list[Objective]:
    out = builtin_objectives(settings) if settings.builtin else []
    taken = {o.name for o in out}
    for spec in settings.objectives:
        if spec.name in taken:  # a configured SLO replaces a built-in one of the same name
            out = [o for o in out if o.name != spec.name]
        out.append(
            Objective(
                name=spec.name,
                description=spec.description,
                target=spec.target,
                window_s=spec.window_s,
                indicators=tuple(_indicator(i) for i in spec.indicators),
                labels=dict(spec.labels),
            )
        )
    return out
