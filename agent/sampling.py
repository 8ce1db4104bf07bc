"""Which samplers run, built from the configuration, and where they read the host from."""

from __future__ import annotations

import psutil

from hostvitals.agent.config import AgentConfig
from hostvitals.agent.registry import Scheduled
from hostvitals.agent.samplers.agent_self import AgentSelfSampler
from hostvitals.agent.samplers.cgroups import CgroupsSampler
from hostvitals.agent.samplers.cpu import CpuSampler
from hostvitals.agent.samplers.disk import DiskSampler
from hostvitals.agent.samplers.filesystem import FilesystemSampler, StatvfsGuard
from hostvitals.agent.samplers.gpu import GpuSampler
from hostvitals.agent.samplers.info import InfoSampler
from hostvitals.agent.samplers.load import LoadSampler
from hostvitals.agent.samplers.memory import MemorySampler
from hostvitals.agent.samplers.network import NetworkSampler
from hostvitals.agent.samplers.paths import HostPaths
from hostvitals.agent.samplers.pressure import PressureSampler
from hostvitals.agent.samplers.processes import ProcessesSampler
from hostvitals.agent.samplers.sensors import SensorsSampler
from hostvitals.agent.samplers.smart import SmartSampler
from hostvitals.agent.samplers.sockets import SocketsSampler
from hostvitals.agent.samplers.system import SystemSampler
from hostvitals.agent.samplers.units import UnitsSampler

COLLECT_SHARE = 0.8
"""Share of the interval the samplers get before a tick goes on without the slow ones."""

TICK_GROUP = "tick"
"""The cheap per-tick samplers run one after the other in one job (see ``Registry``); the
filesystem sampler (statvfs may hang on a dead mount) and the process table run on their own.
The SMART sampler joins the group: its ``collect`` only hands out what its own thread read.
"""

WITH_STATS = (FilesystemSampler, SmartSampler, GpuSampler)
"""Samplers whose ``stats_rows`` (their own health) go out with the agent's metrics."""


def host_paths(config: AgentConfig) -> HostPaths:
    """The configured mount points, and psutil pointed at the same procfs.

    psutil keeps its procfs path in a module attribute, so this sets it for the whole
    process (the CPU, disk, network and process samplers read through psutil).
    """
    paths = HostPaths(config.paths.procfs, config.paths.sysfs, config.paths.rootfs)
    psutil.PROCFS_PATH = str(paths.procfs)
    return paths


def build_samplers(config: AgentConfig) -> tuple[list[Scheduled], AgentSelfSampler | None]:
    """The enabled samplers in catalogue order, and the agent's own sampler to feed stats to."""
    enabled = config.samplers.enabled
    settings = config.samplers
    paths = host_paths(config)
    scheduled: list[Scheduled] = []
    if "cpu" in enabled:
        scheduled.append(Scheduled(CpuSampler(), group=TICK_GROUP))
    if "load" in enabled:
        scheduled.append(Scheduled(LoadSampler(), group=TICK_GROUP))
    if "memory" in enabled:
        memory = MemorySampler(paths.proc("meminfo"))
        scheduled.append(Scheduled(memory, group=TICK_GROUP))
    if "disk" in enabled:
        scheduled.append(Scheduled(DiskSampler(), group=TICK_GROUP))
    if "filesystem" in enabled:
        fs = settings.filesystem
        sampler = FilesystemSampler(
            ignored_mount_points=fs.ignored_mount_points,
            ignored_fs_types=fs.ignored_fs_types,
            guard=StatvfsGuard(fs.statvfs_timeout),
            rootfs=str(paths.rootfs),
        )
        scheduled.append(Scheduled(sampler))
    if "network" in enabled:
        network = NetworkSampler(include_loopback=settings.network.include_loopback)
        scheduled.append(Scheduled(network, group=TICK_GROUP))
    if "pressure" in enabled:
        scheduled.append(Scheduled(PressureSampler(paths), group=TICK_GROUP))
    if "system" in enabled:
        scheduled.append(Scheduled(SystemSampler(paths), group=TICK_GROUP))
    if "sockets" in enabled:
        scheduled.append(Scheduled(SocketsSampler(paths), group=TICK_GROUP))
    if "sensors" in enabled:
        scheduled.append(Scheduled(SensorsSampler(paths), group=TICK_GROUP))
    if "info" in enabled:
        scheduled.append(Scheduled(InfoSampler(paths), group=TICK_GROUP))
    if "cgroups" in enabled:
        cgroups = CgroupsSampler(paths, top_n=settings.cgroups.top_n)
        scheduled.append(Scheduled(cgroups, every_s=settings.cgroups.interval))
    if "units" in enabled:
        units = UnitsSampler(paths, all_units=settings.units.all_units)
        scheduled.append(Scheduled(units, every_s=settings.units.interval))
    if "processes" in enabled:
        processes = ProcessesSampler(top_n=settings.processes.top_n)
        scheduled.append(Scheduled(processes, every_s=settings.processes.interval))
    if "smart" in enabled:
        smart = settings.smart
        disks = SmartSampler(
            interval_s=smart.interval, timeout_s=smart.timeout, max_devices=smart.max_devices
        )
        scheduled.append(Scheduled(disks, group=TICK_GROUP))
    if "gpu" in enabled:
        gpus = GpuSampler(max_gpus=settings.gpu.max_gpus)
        scheduled.append(Scheduled(gpus, every_s=settings.gpu.interval))
    agent_self = AgentSelfSampler() if "agent" in enabled else None
    if agent_self is not None:
        scheduled.append(Scheduled(agent_self, group=TICK_GROUP))
        for entry in scheduled:
            if isinstance(entry.sampler, WITH_STATS):
                agent_self.add_source(entry.sampler.stats_rows)
    return scheduled, agent_self
