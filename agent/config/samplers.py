"""The samplers' sections of the configuration (``[samplers.<name>]``): each has its
``enabled`` switch, on by default except for the optional SMART and GPU samplers, which need a
tool or a library the host may not have; some have more settings.

Part of the model of ``hostvitals.agent.config.model``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from hostvitals.agent.config.declare import section, setting
from hostvitals.agent.config.kinds import Boolean, Integer, Number, Regex
from hostvitals.agent.samplers.filesystem import (
    DEFAULT_IGNORED_FS_TYPES,
    DEFAULT_IGNORED_MOUNT_POINTS,
    DEFAULT_STATVFS_TIMEOUT_S,
)
from hostvitals.agent.samplers.gpu import MAX_GPUS
from hostvitals.agent.samplers.processes import DEFAULT_TOP_N
from hostvitals.agent.samplers.smart import DEFAULT_INTERVAL_S as DEFAULT_SMART_INTERVAL_S
from hostvitals.agent.samplers.smart import DEFAULT_TIMEOUT_S as DEFAULT_SMART_TIMEOUT_S
from hostvitals.agent.samplers.smart import MAX_DEVICES as MAX_SMART_DEVICES


@dataclass(frozen=True, slots=True)
class SamplerConfig:
    """A sampler's switch; the samplers with more settings extend it."""

    enabled: bool = setting(True, Boolean(), "Run this sampler.")


@dataclass(frozen=True, slots=True)
class FilesystemConfig(SamplerConfig):
    ignored_mount_points: str = setting(
        DEFAULT_IGNORED_MOUNT_POINTS,
        Regex(),
        "Mount points not reported.",
    )
    ignored_fs_types: str = setting(
        DEFAULT_IGNORED_FS_TYPES, Regex(), "File system types not reported."
    )
    statvfs_timeout: float = setting(
        DEFAULT_STATVFS_TIMEOUT_S,
        Number(0.1, 30),
        "Seconds to wait for statvfs on one mount; a mount that does not answer (a dead NFS "
        "server) is skipped until its call returns.",
    )


@dataclass(frozen=True, slots=True)
class NetworkConfig(SamplerConfig):
    include_loopback: bool = setting(False, Boolean(), "Report the loopback interface too.")


@dataclass(frozen=True, slots=True)
class ProcessesConfig(SamplerConfig):
    interval: float = setting(
        5.0,
        Number(1, 3600),
        "Seconds between process scans, on wall-clock multiples like `interval`.",
    )
    top_n: int = setting(
        DEFAULT_TOP_N,
        Integer(1, 1000),
        "How many processes by CPU and how many by memory are reported (their union).",
    )


@dataclass(frozen=True, slots=True)
class CgroupsConfig(SamplerConfig):
    interval: float = setting(
        10.0,
        Number(1, 3600),
        "Seconds between scans of the cgroup tree (services and containers).",
    )
    top_n: int = setting(
        10,
        Integer(1, 1000),
        "How many services and containers by CPU and how many by memory are reported (their "
        "union); the rest add up into one `other` series.",
    )


@dataclass(frozen=True, slots=True)
class UnitsConfig(SamplerConfig):
    interval: float = setting(
        30.0,
        Number(1, 3600),
        "Seconds between reads of the systemd unit list.",
    )
    all_units: bool = setting(
        False,
        Boolean(),
        "Report the state of every loaded unit, not only the failed and activating ones (a "
        "series per unit).",
    )


@dataclass(frozen=True, slots=True)
class SmartConfig(SamplerConfig):
    enabled: bool = setting(
        False,
        Boolean(),
        "Run this sampler: disk health from `smartctl` (smartmontools 7.0 or later, run as "
        "root or with CAP_SYS_RAWIO and CAP_SYS_ADMIN).",
    )
    interval: float = setting(
        DEFAULT_SMART_INTERVAL_S,
        Number(30, 86_400),
        "Seconds between two looks at every disk, each in the sampler's own thread (never in "
        "a tick); a sleeping disk is left asleep.",
    )
    timeout: float = setting(
        DEFAULT_SMART_TIMEOUT_S,
        Number(1, 300),
        "Seconds one call of `smartctl` may take; a disk that does not answer in time is "
        "skipped for that look and counted.",
    )
    max_devices: int = setting(
        MAX_SMART_DEVICES,
        Integer(1, 1000),
        "Most disks reported; the rest are counted in `hostvitals_agent_sampler_capped`.",
    )


@dataclass(frozen=True, slots=True)
class GpuConfig(SamplerConfig):
    enabled: bool = setting(
        False,
        Boolean(),
        "Run this sampler: NVIDIA GPUs through NVML (needs nvidia-ml-py, "
        "`pip install 'hostvitals[gpu]'`, and the NVIDIA driver).",
    )
    interval: float = setting(
        5.0,
        Number(1, 3600),
        "Seconds between reads of the GPUs' utilisation, memory, temperature and power.",
    )
    max_gpus: int = setting(
        MAX_GPUS,
        Integer(1, 256),
        "Most GPUs reported; the rest are counted in `hostvitals_agent_sampler_capped`.",
    )


@dataclass(frozen=True, slots=True)
class SamplersConfig:
    cpu: SamplerConfig = section(SamplerConfig)
    load: SamplerConfig = section(SamplerConfig)
    memory: SamplerConfig = section(SamplerConfig)
    disk: SamplerConfig = section(SamplerConfig)
    filesystem: FilesystemConfig = section(FilesystemConfig)
    network: NetworkConfig = section(NetworkConfig)
    pressure: SamplerConfig = section(SamplerConfig)
    system: SamplerConfig = section(SamplerConfig)
    sockets: SamplerConfig = section(SamplerConfig)
    sensors: SamplerConfig = section(SamplerConfig)
    cgroups: CgroupsConfig = section(CgroupsConfig)
    units: UnitsConfig = section(UnitsConfig)
    info: SamplerConfig = section(SamplerConfig)
    processes: ProcessesConfig = section(ProcessesConfig)
    smart: SmartConfig = section(SmartConfig)
    gpu: GpuConfig = section(GpuConfig)
    agent: SamplerConfig = section(SamplerConfig)

    @property
    def enabled(self) -> frozenset[str]:
        """Names of the enabled samplers."""
        return frozenset(
            item.name for item in dataclasses.fields(self) if getattr(self, item.name).enabled
        )
