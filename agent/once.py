"""``--once``: sample two ticks one interval apart, build one frame, show it, send nothing."""

from __future__ import annotations

import json
import logging
import sys
import uuid
from typing import TextIO

from hostvitals.agent.batcher import Batcher
from hostvitals.agent.config import AgentConfig
from hostvitals.agent.registry import Registry
from hostvitals.agent.sampling import COLLECT_SHARE, build_samplers
from hostvitals.agent.state import (
    StateError,
    StateLockedError,
    StateStore,
    read_agent_id,
    read_seq_ceiling,
)
from hostvitals.agent.ticker import Ticker
from hostvitals.shared.codec import decode_frame, encode_frame
from hostvitals.shared.protocol import Frame

log = logging.getLogger(__name__)

TICKS = 2


def identity(config: AgentConfig) -> tuple[str, int]:
    """The agent id and the next sequence number, without using one up.

    Next to a running agent the state is only read; where the state directory cannot be
    used at all (not root, no --state-dir), a throwaway id stands in, with a warning.
    """
    try:
        with StateStore(config.state_dir) as store:
            return store.agent_id, store.peek_seq()
    except StateLockedError:
        agent_id = read_agent_id(config.state_dir)
        if agent_id is None:
            raise StateError(f"{config.state_dir} is locked but holds no agent id") from None
        return agent_id, read_seq_ceiling(config.state_dir)
    except StateError as exc:
        log.warning("%s; using a throwaway agent id for this run", exc)
        return str(uuid.uuid4()), 0


async def sample_frame(config: AgentConfig) -> Frame:
    """Every enabled sampler at two consecutive ticks, as one frame."""
    agent_id, seq = identity(config)
    scheduled, agent_self = build_samplers(config)
    registry = Registry(scheduled)
    if agent_self is not None:
        agent_self.add_source(registry.stats_rows)
    batcher = Batcher(
        agent_id=agent_id,
        host=config.host,
        interval_s=config.interval,
        flush_interval_s=config.interval * (TICKS + 1),
        max_samples=10**9,
        next_seq=lambda: seq,
    )
    ticker = Ticker(config.interval)
    try:
        for _ in range(TICKS):
            tick = await ticker.wait()
            rows = await registry.collect(tick, config.interval * COLLECT_SHARE, force=True)
            batcher.add(tick, rows)
    finally:
        registry.close()
    frame = batcher.flush()
    if frame is None:
        raise RuntimeError("no sampler produced any sample")
    return frame


def summary(frame: Frame, encoded: bytes) -> str:
    metrics = sorted({s.metric for s in frame.series})
    return (
        f"frame seq {frame.seq} from agent {frame.agent_id} (host {frame.host}): "
        f"{len(frame.timestamps_ms)} ticks, {len(frame.series)} series of {len(metrics)} "
        f"metrics, {frame.sample_count()} samples, {len(encoded)} bytes encoded"
    )


async def run_once(config: AgentConfig, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Print the frame as JSON on ``out`` and a one-line summary on ``err``."""
    frame = await sample_frame(config)
    encoded = encode_frame(frame)
    decoded = decode_frame(encoded)  # shows exactly what the collector would receive
    json.dump(decoded.to_jsonable(), out, indent=1)
    out.write("\n")
    err.write(summary(decoded, encoded) + "\n")
    return 0
