"""Wires the agent together and runs it: tick, sample, batch, journal, spool, send.

Per tick: the samplers run (off the loop), the rows join the open frame and are journaled
(``hostvitals.agent.journal``); a frame closes every ``flush_interval``, or every tick while the
collector asks for that (``hostvitals.agent.flushhint``). A frame that closes is appended to
the spool (``hostvitals.agent.outbox``) and handed to the sender, and only then is its journal
released. So a frame is on disk from the
moment its first sample is taken until the collector acknowledged it.

On stop (SIGTERM) the open frame is closed into the spool, the spool is fsynced, the sender
gets a few seconds to deliver the newest frames, and what is left stays in the spool for the
next run. SIGHUP reloads the configuration between ticks (see ``Agent.reload``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from hostvitals.agent.batcher import Batcher
from hostvitals.agent.config import AgentConfig, ConfigError, keep_restart_only
from hostvitals.agent.delivery import warn_plaintext_credentials
from hostvitals.agent.journal import JOURNAL_DIR, Journal
from hostvitals.agent.outbox import SPOOL_DIR, Outbox
from hostvitals.agent.registry import Registry
from hostvitals.agent.samplers.agent_self import AgentSelfSampler
from hostvitals.agent.samplers.base import NO_LABELS, Row
from hostvitals.agent.sampling import COLLECT_SHARE, build_samplers
from hostvitals.agent.sender import Sender
from hostvitals.agent.spool import FsyncPolicy, RecordId, is_disk_error
from hostvitals.agent.state import StateError, StateStore
from hostvitals.agent.systemd import Notifier
from hostvitals.agent.throttle import Throttle
from hostvitals.agent.ticker import Ticker
from hostvitals.agent.tlsclient import Stamp, stamps
from hostvitals.shared.codec import encode_frame
from hostvitals.shared.protocol import Frame

log = logging.getLogger(__name__)

SHUTDOWN_SEND_TIMEOUT_S = 3.0
"""How long the last attempt to deliver the newest frames may take on stop."""

ConfigLoader = Callable[[], AgentConfig]


def journal_policy(config: AgentConfig) -> FsyncPolicy:
    """The journal is written every tick: it is fsynced only under the ``always`` policy.

    Its records survive a crash of the agent either way (they are written straight to the
    file); on power loss, under ``interval`` and ``never``, the ticks of the open frame that
    the kernel had not written back yet are lost.
    """
    return FsyncPolicy.ALWAYS if config.spool.fsync == FsyncPolicy.ALWAYS else FsyncPolicy.NEVER


@dataclass(frozen=True, slots=True)
class _Spooled:
    record_id: RecordId
    data: bytes
    sample_count: int


class Agent:
    """The running agent. ``run(stop)`` returns after ``stop`` is set and the open frame is
    in the spool.
    """

    def __init__(
        self,
        config: AgentConfig,
        state: StateStore,
        *,
        ticker: Ticker | None = None,
        notifier: Notifier | None = None,
        load_config: ConfigLoader | None = None,
    ) -> None:
        self.config = config
        self.state = state
        self.agent_id = state.agent_id
        self.outbox = Outbox(state.directory / SPOOL_DIR, config.spool)
        self._journal_syncs = journal_policy(config) is not FsyncPolicy.NEVER
        self.journal = Journal(
            state.directory / JOURNAL_DIR, journal_policy(config), config.spool.fsync_interval
        )
        self.sender = Sender(config.delivery, self.outbox)
        self.ticker = ticker or Ticker(config.interval)
        self._notifier = notifier
        self._load_config = load_config
        self._lock = asyncio.Lock()
        self._reloading: asyncio.Task[None] | None = None
        self._throttle = Throttle()
        self._skipped_ticks = 0
        self._beat = time.monotonic()
        self.registry, self._agent_self = self._build_registry(config)
        self.batcher = self._build_batcher(config)
        self._warned_plaintext: set[str] = set()
        warn_plaintext_credentials(self.config.delivery, self._warned_plaintext)
        self._files = self._checked = self._delivery_files(config)

    # -- assembly -------------------------------------------------------------------------

    def _build_registry(self, config: AgentConfig) -> tuple[Registry, AgentSelfSampler | None]:
        scheduled, agent_self = build_samplers(config)
        registry = Registry(scheduled)
        if agent_self is not None:
            agent_self.add_source(registry.stats_rows)
            agent_self.add_source(self.sender.stats_rows)
            agent_self.add_source(self._stats_rows)
        return registry, agent_self

    def _build_batcher(self, config: AgentConfig) -> Batcher:
        return Batcher(
            agent_id=self.agent_id,
            host=config.host,
            interval_s=config.interval,
            flush_interval_s=config.flush_interval,
            max_samples=config.max_samples_per_frame,
            next_seq=self.state.next_seq,
        )

    def _stats_rows(self) -> list[Row]:
        corrupt = self.outbox.counts().corrupt_records + self.journal.corrupt_records()
        return [
            ("hostvitals_agent_ticks_skipped_total", NO_LABELS, self._skipped_ticks),
            ("hostvitals_agent_spool_corrupt_total", NO_LABELS, corrupt),
            ("hostvitals_agent_flush_interval_seconds", NO_LABELS, self.batcher.flush_interval_s),
            ("hostvitals_agent_disk_full", NO_LABELS, int(self.disk_full)),
            *self.sender.flush_hint.rows(),
        ]

    @property
    def disk_full(self) -> bool:
        """Whether the last write to the spool, its read position or the journal failed on a
        full disk (ENOSPC, EDQUOT, EIO)."""
        return self.outbox.disk_full or self.journal.disk_full

    @staticmethod
    def _delivery_files(config: AgentConfig) -> tuple[Stamp, ...]:
        """The stamps of the files the delivery settings are read from."""
        d = config.delivery
        return stamps((d.token_file, d.ca_file, d.client_cert, d.client_key))

    async def _watch_files(self) -> None:
        """Reload, as SIGHUP does, when the token file or a TLS file changes."""
        while True:
            await asyncio.sleep(self.config.delivery.file_check_interval)
            now = self._delivery_files(self.config)
            if now != self._checked:
                self._checked = now  # a reload that fails is not tried again until a change
                log.info("a token or certificate file changed: reloading the configuration")
                self.request_reload()

    # -- running --------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        await self._replay_journal()
        log.info(
            "agent %s started: host %s, interval %g s, collectors %s, spool %s",
            self.agent_id,
            self.config.host,
            self.config.interval,
            ", ".join(self.config.delivery.collector_urls),
            self.outbox.directory,
        )
        self._notify("READY=1", "STATUS=sampling")
        ticking = asyncio.create_task(self._tick_loop(), name="hostvitals-ticks")
        sending = asyncio.create_task(self.sender.run(), name="hostvitals-sender")
        stopping = asyncio.create_task(stop.wait(), name="hostvitals-stop")
        watching = asyncio.create_task(self._watch_files(), name="hostvitals-file-watch")
        tasks = [ticking, sending, stopping, watching]
        if self._notifier is not None and self._notifier.watchdog_s:
            tasks.append(asyncio.create_task(self._watchdog(), name="hostvitals-watchdog"))
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._notify("STOPPING=1", "STATUS=stopping: spooling the open frame")
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._shutdown()
        for task in (ticking, sending):
            if task in done and not task.cancelled() and (exc := task.exception()) is not None:
                raise exc

    def request_reload(self) -> None:
        """Reload the configuration between ticks (the SIGHUP handler)."""
        if self._reloading is None or self._reloading.done():
            self._reloading = asyncio.create_task(self.reload(), name="hostvitals-reload")

    async def _tick_loop(self) -> None:
        while True:
            self._beat = time.monotonic()
            ticker = self.ticker
            skipped = ticker.skipped
            tick = await ticker.wait()
            async with self._lock:
                if ticker is not self.ticker:  # the interval changed while waiting
                    continue
                try:
                    await self._take(tick, ticker.skipped - skipped)
                except OSError as exc:  # a write the spool and journal did not absorb
                    if not is_disk_error(exc):
                        raise
                    self._throttle.log(
                        log, logging.ERROR, "disk", "tick lost to a disk error: %s", exc
                    )

    async def _take(self, tick: int, skipped: int) -> None:
        if skipped:
            self._skipped_ticks += skipped
            self._throttle.log(
                log,
                logging.WARNING,
                "skipped",
                "skipped %d ticks (host suspended or agent starved of CPU)",
                skipped,
            )
        rows = await self.registry.collect(tick, self.config.interval * COLLECT_SHARE)
        self._adapt_frame_span()
        lost = self.batcher.lost_samples
        try:
            frames = self.batcher.add(tick, rows)
        except StateError as exc:
            cause = exc.__cause__
            if isinstance(cause, OSError) and is_disk_error(cause):
                self.outbox.dropped_on_full_disk(cause, self.batcher.lost_samples - lost)
            self._throttle.log(log, logging.ERROR, "seq", "frame dropped: %s", exc)
            return
        journaled = self.batcher.open_seq if self.batcher.holds(tick) else None
        if frames or self._journal_syncs:
            spooled = await asyncio.to_thread(self._persist, frames, journaled, tick, rows)
            self._offer(spooled)
        else:  # a plain write, no fsync: cheaper than a trip to a worker thread
            self._persist(frames, journaled, tick, rows)

    def _adapt_frame_span(self) -> None:
        """While the collector is unreachable, build longer frames: fewer, larger requests
        when the backlog is sent. While it asks for frames more often (someone watches this
        host: ``hostvitals.agent.flushhint``), build shorter ones.
        """
        config = self.config
        span = config.flush_interval if self.sender.healthy else config.outage_flush_interval
        if config.fast_flush and self.sender.healthy:
            asked = self.sender.flush_hint.period(config.interval, config.flush_interval)
            span = span if asked is None else asked
        if self.batcher.flush_interval_s != span:
            self.batcher.flush_interval_s = span

    def _persist(
        self, frames: list[Frame], journaled: int | None, tick: int, rows: list[Row]
    ) -> list[_Spooled]:
        """Journal the tick, spool closed frames, release their journal (worker thread)."""
        if journaled is not None:
            self.journal.record(journaled, self.config.host, self.config.interval, tick, rows)
        spooled = self._spool(frames)
        self.journal.release(self.batcher.open_seq)
        return spooled

    def _spool(self, frames: list[Frame]) -> list[_Spooled]:
        out: list[_Spooled] = []
        for frame in frames:
            data = encode_frame(frame)
            count = frame.sample_count()
            record_id = self.outbox.append_now(data, count)
            if record_id is not None:
                out.append(_Spooled(record_id, data, count))
        return out

    def _offer(self, spooled: list[_Spooled]) -> None:
        for item in spooled:
            self.sender.offer(item.record_id, item.data, item.sample_count)

    async def _replay_journal(self) -> None:
        frames = await asyncio.to_thread(self.journal.replay, self.agent_id)
        if frames:
            await asyncio.to_thread(self._spool, frames)  # sent by the backlog lane

    async def _watchdog(self) -> None:
        assert self._notifier is not None and self._notifier.watchdog_s
        period = self._notifier.watchdog_s / 2
        while True:
            stale = time.monotonic() - self._beat
            if stale <= max(3 * self.config.interval, 2 * self._notifier.watchdog_s):
                self._notifier.notify("WATCHDOG=1")
            else:
                self._throttle.log(
                    log, logging.ERROR, "watchdog", "no tick for %.0f s; not pinging", stale
                )
            await asyncio.sleep(period)

    def _notify(self, *assignments: str) -> None:
        if self._notifier is not None:
            self._notifier.notify(*assignments)

    # -- reload ---------------------------------------------------------------------------

    async def reload(self) -> None:
        """Re-read the configuration and apply what can change while running.

        Every setting applies live except those the model declares restart-only (the state
        directory and the spool settings): a change to them is logged and ignored. The open
        frame is first closed into the spool, so nothing is lost. A configuration that does
        not load is logged and the running one kept.
        """
        if self._load_config is None:
            return
        async with self._lock:
            await self._reload()

    async def _reload(self) -> None:
        assert self._load_config is not None
        self._notify("RELOADING=1", f"MONOTONIC_USEC={time.monotonic_ns() // 1000}")
        try:
            new = self._load_config()
        except ConfigError as exc:
            log.error("reload failed, keeping the running configuration: %s", exc)
            self._notify("READY=1", "STATUS=reload failed; running the previous configuration")
            return
        old = self.config
        new, kept = keep_restart_only(old, new)
        if kept:
            log.warning("%s change only on restart; keeping the running values", ", ".join(kept))
        logging.getLogger().setLevel(new.log_level.upper())
        frame = self._flush_batcher()
        if frame is not None:
            self._offer(await asyncio.to_thread(self._spool_and_release, frame))
        self.config = new
        self.batcher = self._build_batcher(new)
        if new.interval != old.interval:
            self.ticker = Ticker(new.interval)
        if new.samplers != old.samplers:
            self.registry.close()
            self.registry, self._agent_self = self._build_registry(new)
        files = self._delivery_files(new)
        if new.delivery != self.sender.config or files != self._files:
            # New connections read the certificate files again (new lanes, new contexts).
            self.sender.reconfigure(new.delivery)
            warn_plaintext_credentials(self.config.delivery, self._warned_plaintext)
        self._files = self._checked = files
        log.info(
            "configuration reloaded: interval %g s, collectors %s",
            new.interval,
            ", ".join(new.delivery.collector_urls),
        )
        self._notify("READY=1", "STATUS=sampling")

    def _flush_batcher(self) -> Frame | None:
        try:
            return self.batcher.flush()
        except StateError as exc:
            log.error("frame dropped: %s", exc)
            return None

    def _spool_and_release(self, frame: Frame) -> list[_Spooled]:
        spooled = self._spool([frame])
        self.journal.release(None)
        return spooled

    # -- stop -----------------------------------------------------------------------------

    async def _shutdown(self) -> None:
        if self._reloading is not None:
            self._reloading.cancel()
            await asyncio.gather(self._reloading, return_exceptions=True)
        frame = self._flush_batcher()
        try:
            if frame is not None:
                self._offer(await asyncio.to_thread(self._spool_and_release, frame))
            await self.outbox.flush()
            if not await self.sender.drain(SHUTDOWN_SEND_TIMEOUT_S):
                counts = self.outbox.counts()
                log.info(
                    "stopping with %d frames (%d bytes) in the spool; they are sent on the "
                    "next start",
                    counts.pending_frames,
                    counts.pending_bytes,
                )
        finally:
            await self.sender.close()
            self.registry.close()
            self.outbox.close()
            self.journal.close()
        log.info("agent stopped")
