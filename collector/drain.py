"""The collector's drain on SIGTERM or SIGINT: from the signal on, ingest answers 503 with
``Retry-After`` while the server stops accepting connections, lets the requests in flight
finish and writes what is queued to VictoriaMetrics (docs/operations.md).

An agent told 503 keeps the frame in its spool and sends it again later (to the restarted
collector or another one), so a scale-down or rolling update loses nothing, and the dedupe
ledger keeps a frame sent twice single.
"""

from __future__ import annotations

import time
from types import FrameType

import uvicorn


class Drain:
    """Set once, by the signal handler; read by the ingest route."""

    def __init__(self) -> None:
        self.started_at: float | None = None

    @property
    def active(self) -> bool:
        return self.started_at is not None

    def begin(self) -> None:
        if self.started_at is None:
            self.started_at = time.monotonic()


class DrainingServer(uvicorn.Server):
    """uvicorn's server, which on SIGTERM or SIGINT first starts the drain, then shuts down as
    uvicorn does: it stops accepting, lets the requests in flight finish (up to
    ``server.shutdown_timeout_s``), and the app's lifespan writes what is queued. Like uvicorn,
    it raises the signal again at the end, so a graceful stop's exit status is "killed by
    SIGTERM" (-15 as Python reports it, 143 from a shell), which systemd counts as clean."""

    def __init__(self, config: uvicorn.Config, drain: Drain) -> None:
        super().__init__(config)
        self.drain = drain

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.drain.begin()
        super().handle_exit(sig, frame)
