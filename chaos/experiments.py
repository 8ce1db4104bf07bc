"""The experiments, as data: one table entry each. A profile sets their durations: ``full``
for ``make chaos``, ``short`` for the test suite."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hostvitals.chaos.faults import DiskFull, Fault, Hang, Kill, Network, Stress
from hostvitals.chaos.proxy import Mode

NO_LOSS = "no sample is lost or stored twice in any tier, and the raw tier catches up within 30 s"
STEADY = "every agent's latest tick is in the raw tier and the collector's health is 200"


@dataclass(frozen=True)
class Profile:
    name: str
    fault_s: float
    warmup_s: float
    after_s: float
    tiers: tuple[tuple[str, int], ...]  # rollup tiers (name, resolution s)
    recovery_timeout_s: float
    stress_vm_bytes: str


PROFILES = {
    # Rollup tiers with short buckets, so each one closes and is computed within the run;
    # the rollup job is the same for any width.
    "full": Profile("full", 30, 10, 20, (("10s", 10), ("20s", 20), ("30s", 30)), 90, "2G"),
    "short": Profile("short", 3, 2, 6, (("2s", 2), ("3s", 3), ("4s", 4)), 30, "256M"),
}


@dataclass(frozen=True)
class Experiment:
    name: str
    hypothesis: str
    fault: Callable[[Profile], Fault]
    steady_state: str = STEADY
    spool_fs_bytes: int = 0  # > 0: the agent's state directory is a tmpfs this big
    counted_drops: tuple[str, ...] = ()
    """Drop reasons (``hostvitals_agent_dropped_samples_total``) the hypothesis allows: a tick
    missing from the raw tier is not lost if the agent counted its samples under one of them,
    exactly (the runner checks the count against the missing ticks)."""


def _cpu(profile: Profile) -> Fault:
    seconds = int(profile.fault_s) + 5
    return Stress(["--cpu", "2", "--timeout", f"{seconds}s"], "stress-ng --cpu 2 (both cores)")


def _memory(profile: Profile) -> Fault:
    seconds = int(profile.fault_s) + 5
    size = profile.stress_vm_bytes
    return Stress(
        ["--vm", "2", "--vm-bytes", size, "--vm-keep", "--timeout", f"{seconds}s"],
        f"stress-ng --vm 2 --vm-bytes {size} (memory pressure)",
    )


EXPERIMENTS: tuple[Experiment, ...] = (
    Experiment("vm-hung", NO_LOSS, lambda p: Hang("raw")),
    Experiment("vm-killed", NO_LOSS, lambda p: Kill("raw")),
    Experiment("collector-hung", NO_LOSS, lambda p: Hang("collector")),
    Experiment("collector-killed", NO_LOSS, lambda p: Kill("collector")),
    Experiment(
        "agent-killed",
        "no sample the agent took is lost or stored twice (the ticks while it was down were "
        "never taken), and it is caught up within 30 s of its restart",
        lambda p: Kill("agent"),
    ),
    Experiment("network-latency", NO_LOSS, lambda p: Network(Mode(latency_s=0.2))),
    Experiment("network-loss", NO_LOSS, lambda p: Network(Mode(loss=0.2))),
    Experiment("network-partition", NO_LOSS, lambda p: Network(Mode(partition=True))),
    Experiment(
        "spool-disk-full",
        "the agent survives a full spool file system and keeps running; every sample is "
        "delivered or counted as dropped with reason disk_full (none silently lost, none "
        "stored twice), and it spools and delivers again within 30 s of the disk having room",
        lambda p: DiskFull(),
        spool_fs_bytes=4 << 20,
        counted_drops=("disk_full",),
    ),
    Experiment("cpu-stress", NO_LOSS, _cpu),
    Experiment("memory-pressure", NO_LOSS, _memory),
)


def select(names: list[str] | None) -> list[Experiment]:
    if not names:
        return list(EXPERIMENTS)
    known = {e.name: e for e in EXPERIMENTS}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown experiment(s) {', '.join(unknown)}; known: {', '.join(known)}")
    return [known[n] for n in names]
