"""Re-send the last seconds of writes after VictoriaMetrics restarts.

VictoriaMetrics acknowledges an import before the rows are on disk: they wait in memory for
a few seconds first. Measured with Debian's 1.79: rows acknowledged 3 s before a ``kill -9``
were gone after the restart, rows acknowledged 6 s before it were kept. The collector has
answered those frames' agents 2xx by then and the agents have dropped them from their spools,
so an unclean stop (a crash, the OOM killer, a power cut) would lose accepted data.

So every VictoriaMetrics the collector writes to keeps a
:class:`~hostvitals.collector.vm.recent.RecentWrites`: the import bodies of the last
``window_s`` seconds of successful writes, zstd-compressed, bounded in bytes. A
:class:`RestartWatch` thread reads VictoriaMetrics' start time (``vm_app_start_timestamp`` on
``/metrics``) every few seconds; when it changes, or when VictoriaMetrics answers again after
being unreachable, the kept bodies are written again. Writing a row twice is harmless:
``-dedup.minScrapeInterval`` stores one sample per series and timestamp, and the values are
the same.

Rows a rollup bucket was computed without (it was computed between the restart and the
re-send) are counted again: ``on_resent`` gets the re-sent bodies, and the raw tier's watch
marks their buckets for the rollup job once more.

The window is measured back from the newest write, not from now: while VictoriaMetrics is
down nothing new is written, so the seconds before the crash are still there when it returns.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from hostvitals.collector.periodic import PeriodicThread
from hostvitals.collector.selfmetrics import ResendMetrics
from hostvitals.collector.vm.client import WatchTarget
from hostvitals.collector.vm.recent import RecentWrites

log = logging.getLogger(__name__)


class RestartWatch:
    """Notices a restart (or a return after an outage) of one VictoriaMetrics and re-sends.

    ``client`` answers ``start_time()`` (raises when VictoriaMetrics cannot be asked) and
    ``post_import``. A re-send that fails is tried again at the next check.
    """

    def __init__(
        self,
        target: str,
        client: WatchTarget,
        recent: RecentWrites,
        metrics: ResendMetrics,
        interval_s: float,
        on_resent: Callable[[list[bytes]], object] | None = None,
    ) -> None:
        self.target = target
        self._on_resent = on_resent
        self._client = client
        self.recent = recent
        self._metrics = metrics
        self._started_at: float | None = None
        self._away = False
        self._pending = False
        self._thread = PeriodicThread(
            f"victoriametrics-restart-watch-{target}",
            interval_s,
            self.check,
            what=f"restart watch of VictoriaMetrics ({target})",
        )
        metrics.window_bytes.labels(target).set_function(lambda: float(recent.size))
        metrics.dropped_bytes.labels(target).set_function(lambda: float(recent.dropped_bytes))

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        self._thread.stop(timeout)

    def check(self) -> None:
        """One look at VictoriaMetrics' start time; re-send when it restarted or came back."""
        try:
            started_at = self._client.start_time()
        except Exception:
            self._away = True
            return
        restarted = self._started_at is not None and started_at != self._started_at
        if restarted:
            self._metrics.restarts.labels(self.target).inc()
            log.warning(
                "VictoriaMetrics (%s) restarted: writing the last %.0f s of data again",
                self.target,
                self.recent.window_s,
            )
        returned = self._away and self._started_at is not None
        self._started_at = started_at
        self._away = False
        if restarted or returned or self._pending:
            self._pending = not self._resend()

    def _resend(self) -> bool:
        bodies = self.recent.bodies()
        sent = 0
        for body in bodies:
            try:
                status, text = self._client.post_import(body)
            except Exception as exc:
                log.warning("re-send to VictoriaMetrics (%s) failed: %s", self.target, exc)
                self._metrics.resends.labels(self.target, "error").inc()
                return False
            if not 200 <= status < 300:
                log.warning(
                    "re-send to VictoriaMetrics (%s) answered %s: %s",
                    self.target,
                    status,
                    text[:300],
                )
                self._metrics.resends.labels(self.target, "error").inc()
                return False
            sent += len(body)
        self._metrics.resent_bytes.labels(self.target).inc(sent)
        self._metrics.resends.labels(self.target, "ok").inc()
        if bodies:
            log.info("re-sent %d bytes to VictoriaMetrics (%s)", sent, self.target)
            if self._on_resent is not None:
                try:
                    self._on_resent(bodies)
                except Exception:
                    log.exception("after the re-send to VictoriaMetrics (%s)", self.target)
        return True
