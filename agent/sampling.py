"""Which samplers run, built from the configuration."""

from __future__ import annotations

from hostvitals.agent.config import AgentConfig
from hostvitals.agent.registry import Scheduled
from hostvitals.agent.samplers.agent_self import AgentSelfSampler
from hostvitals.agent.samplers.cpu import CpuSampler
from hostvitals.agent.samplers.disk import DiskSampler
from hostvitals.agent.samplers.filesystem import FilesystemSampler, StatvfsGuard
from hostvitals.agent.samplers.load import LoadSampler
from hostvitals.agent.samplers.memory import MemorySampler
from hostvitals.agent.samplers.network import NetworkSampler
from hostvitals.agent.samplers.processes import ProcessesSampler

COLLECT_SHARE = 0.8
"""Share of the interval the samplers get before a tick goes on without the slow ones."""

TICK_GROUP = "tick"
"""The cheap per-tick samplers run one after the other in one job (see ``Registry``); the
filesystem sampler (statvfs may hang on a dead mount) and the process table run on their own.
"""


def build_samplers(config: AgentConfig) -> tuple[list[Scheduled], AgentSelfSampler | None]:
    """The enabled samplers in catalogue order, and the agent's own sampler to feed stats to."""
    enabled = config.samplers.enabled
    settings = config.samplers
    scheduled: list[Scheduled] = []
    if "cpu" in enabled:
        scheduled.append(Scheduled(CpuSampler(), group=TICK_GROUP))
    if "load" in enabled:
        scheduled.append(Scheduled(LoadSampler(), group=TICK_GROUP))
    if "memory" in enabled:
        scheduled.append(Scheduled(MemorySampler(), group=TICK_GROUP))
    if "disk" in enabled:
        scheduled.append(Scheduled(DiskSampler(), group=TICK_GROUP))
    if "filesystem" in enabled:
        fs = settings.filesystem
        sampler = FilesystemSampler(
            ignored_mount_points=fs.ignored_mount_points,
            ignored_fs_types=fs.ignored_fs_types,
            guard=StatvfsGuard(fs.statvfs_timeout),
        )
        scheduled.append(Scheduled(sampler))
    if "network" in enabled:
        network = NetworkSampler(include_loopback=settings.network.include_loopback)
        scheduled.append(Scheduled(network, group=TICK_GROUP))
    if "processes" in enabled:
        processes = ProcessesSampler(top_n=settings.processes.top_n)
        scheduled.append(Scheduled(processes, every_s=settings.processes.interval))
    agent_self = AgentSelfSampler() if "agent" in enabled else None
    if agent_self is not None:
        scheduled.append(Scheduled(agent_self, group=TICK_GROUP))
        for entry in scheduled:
            if isinstance(entry.sampler, FilesystemSampler):
                agent_self.add_source(entry.sampler.stats_rows)
    return scheduled, agent_self
