"""The sender's counters, and the delivery and spool metrics the agent reports about itself."""

from __future__ import annotations

from hostvitals.agent.outbox import OutboxCounts
from hostvitals.agent.samplers.base import NO_LABELS, Row, labels

SEND_ERROR_REASONS = ("connection", "timeout", "unauthorized", "throttled", "server", "rejected")
DROP_REASONS = ("rejected", "spool_full", "expired", "disk_full")


class SendStats:
    """Counts failed attempts by reason, frames sent and samples the collector rejected."""

    def __init__(self) -> None:
        self._errors = dict.fromkeys(SEND_ERROR_REASONS, 0)
        self.frames_sent = 0
        self.rejected_samples = 0

    def failed(self, reason: str) -> None:
        self._errors[reason] += 1

    def rejected(self, samples: int) -> None:
        self._errors["rejected"] += 1
        self.rejected_samples += samples

    def send_errors(self) -> dict[str, int]:
        return dict(self._errors)

    def rows(self, counts: OutboxCounts) -> list[Row]:
        """The counters and the spool's gauges ``counts``, as agent metrics."""
        rows: list[Row] = [
            ("hostvitals_agent_send_errors_total", labels(reason=reason), count)
            for reason, count in self._errors.items()
        ]
        rows.append(("hostvitals_agent_frames_sent_total", NO_LABELS, self.frames_sent))
        dropped = {
            "rejected": self.rejected_samples,
            "spool_full": counts.full_samples,
            "expired": counts.expired_samples,
            "disk_full": counts.disk_full_samples,
        }
        rows.extend(
            ("hostvitals_agent_dropped_samples_total", labels(reason=reason), dropped[reason])
            for reason in DROP_REASONS
        )
        rows.append(("hostvitals_agent_spool_frames", NO_LABELS, counts.pending_frames))
        rows.append(("hostvitals_agent_spool_bytes", NO_LABELS, counts.pending_bytes))
        return rows
