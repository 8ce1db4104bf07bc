"""Wires the agent together and runs it: tick, sample, batch, queue, send; flush on stop."""

from __future__ import annotations

import asyncio
import logging

from agent.batcher import Batcher
from agent.config import AgentConfig
from agent.outbox import FrameQueue, MemoryQueue
from agent.registry import Registry
from agent.sampling import COLLECT_SHARE, build_samplers
from agent.sender import Sender, SenderSettings
from agent.state import StateError, StateStore
from agent.throttle import Throttle
from agent.ticker import Ticker

log = logging.getLogger(__name__)

SHUTDOWN_SEND_TIMEOUT_S = 5.0
"""How long the last attempt to deliver queued frames may take on stop."""


def sender_settings(config: AgentConfig) -> SenderSettings:
    return SenderSettings(
        urls=config.collector_urls,
        token=config.token,
        compression=config.compression,
        request_timeout_s=config.request_timeout,
    )


class Agent:
    """The running agent. ``run(stop)`` returns after ``stop`` is set and the last frame is
    handed to the collector (or the shutdown timeout passed).
    """

    def __init__(
        self,
        config: AgentConfig,
        state: StateStore,
        *,
        queue: FrameQueue | None = None,
        ticker: Ticker | None = None,
    ) -> None:
        self.config = config
        self.agent_id = state.agent_id
        scheduled, agent_self = build_samplers(config)
        self.registry = Registry(scheduled)
        self.queue = queue if queue is not None else MemoryQueue(config.queue_max_bytes)
        self.sender = Sender(sender_settings(config), self.queue)
        if agent_self is not None:
            agent_self.add_source(self.registry.stats_rows)
            agent_self.add_source(self.sender.stats_rows)
        self.batcher = Batcher(
            agent_id=state.agent_id,
            host=config.host,
            interval_s=config.interval,
            flush_interval_s=config.flush_interval,
            max_samples=config.max_samples_per_frame,
            next_seq=state.next_seq,
        )
        self.ticker = ticker or Ticker(config.interval)
        self._throttle = Throttle()

    async def run(self, stop: asyncio.Event) -> None:
        log.info(
            "agent %s started: host %s, interval %g s, collectors %s",
            self.agent_id,
            self.config.host,
            self.config.interval,
            ", ".join(self.config.collector_urls),
        )
        ticking = asyncio.create_task(self._tick_loop(), name="hostvitals-ticks")
        sending = asyncio.create_task(self.sender.run(), name="hostvitals-sender")
        stopping = asyncio.create_task(stop.wait(), name="hostvitals-stop")
        tasks = (ticking, sending, stopping)
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._shutdown()
        for task in (ticking, sending):
            if task in done and not task.cancelled() and (exc := task.exception()) is not None:
                raise exc

    async def _tick_loop(self) -> None:
        timeout = self.config.interval * COLLECT_SHARE
        while True:
            skipped = self.ticker.skipped
            tick = await self.ticker.wait()
            if self.ticker.skipped > skipped:
                self._throttle.log(
                    log,
                    logging.WARNING,
                    "skipped",
                    "skipped %d ticks (host suspended or agent starved of CPU)",
                    self.ticker.skipped - skipped,
                )
            rows = await self.registry.collect(tick, timeout)
            try:
                frames = self.batcher.add(tick, rows)
            except StateError as exc:
                self._throttle.log(log, logging.ERROR, "seq", "frame dropped: %s", exc)
                continue
            for frame in frames:
                self.sender.submit(frame)

    async def _shutdown(self) -> None:
        try:
            frame = self.batcher.flush()
        except StateError as exc:
            log.error("last frame dropped: %s", exc)
            frame = None
        if frame is not None:
            self.sender.submit(frame)
        if len(self.queue):
            delivered = await self.sender.drain(SHUTDOWN_SEND_TIMEOUT_S)
            if not delivered:
                log.warning(
                    "stopping with %d frames (%d bytes) not delivered",
                    len(self.queue),
                    self.queue.size_bytes,
                )
        await self.sender.close()
        self.registry.close()
        log.info("agent stopped")
