"""Settings of the audit log and of what the collector's logs hide."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field

from hostvitals.collector.config.section import Section

MiB = 1024 * 1024


class AuditSettings(Section):
    """The audit log of state-changing actions (docs/security.md)."""

    dir: Path | None = None
    """Directory of the audit log's segment files; null: `audit/` in `state.dir`, or (with
    `state.dir` null too) a temporary directory lost with the process."""
    segment_max_bytes: Annotated[int, Field(ge=4096, le=1024 * MiB)] = 4 * MiB
    """A segment file grows to at most this many bytes before a new one is started."""
    segment_max_age_s: Annotated[float, Field(gt=0)] = 7 * 86_400.0
    """A new segment is started once the current one's first record is this old (seconds)."""
    max_segments: Annotated[int, Field(ge=1, le=10_000)] = 16
    """Segments kept; past it the oldest are dropped (the drop is itself an audit record)."""
    retention_days: Annotated[float, Field(gt=0, le=36_500)] = 90.0
    """A segment whose newest record is older than this many days is dropped."""
    fsync: bool = True
    """Flush each record to disk before the action is answered (actions come at human rate)."""


class LoggingSettings(Section):
    """What the collector's log lines may show. Secrets (tokens, passwords, credentials and
    secret paths in URLs) and e-mail addresses are always masked."""

    mask_ip_addresses: bool = False
    """Also mask IP addresses in log lines (personal data in some jurisdictions)."""
    format: Literal["text", "json"] = "text"
    """`text`: one readable line per record. `json`: one JSON object per line with `time`,
    `level`, `logger` and `message`, and `trace_id` when the record was made inside a traced
    request (see `observability`). Masking applies to both."""
