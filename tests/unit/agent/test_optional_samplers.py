"""The SMART and GPU samplers are off by default; switched on, they are scheduled off the
cheap tick group's way and their own health goes out with the agent's metrics. The agent
never imports nvidia-ml-py unless the GPU sampler is on."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from hostvitals.agent.config import load_config
from hostvitals.agent.registry import Scheduled
from hostvitals.agent.samplers.gpu import GpuSampler
from hostvitals.agent.samplers.smart import SmartSampler
from hostvitals.agent.sampling import TICK_GROUP, build_samplers

ON = {
    "HOSTVITALS_AGENT_SAMPLERS__SMART__ENABLED": "true",
    "HOSTVITALS_AGENT_SAMPLERS__SMART__INTERVAL": "600",
    "HOSTVITALS_AGENT_SAMPLERS__SMART__TIMEOUT": "20",
    "HOSTVITALS_AGENT_SAMPLERS__SMART__MAX_DEVICES": "8",
    "HOSTVITALS_AGENT_SAMPLERS__GPU__ENABLED": "true",
    "HOSTVITALS_AGENT_SAMPLERS__GPU__INTERVAL": "15",
    "HOSTVITALS_AGENT_SAMPLERS__GPU__MAX_GPUS": "4",
}


@pytest.fixture(autouse=True)
def _restore_procfs() -> Iterator[None]:
    saved = psutil.PROCFS_PATH
    yield
    psutil.PROCFS_PATH = saved


def by_name(scheduled: list[Scheduled]) -> dict[str, Scheduled]:
    return {entry.sampler.name: entry for entry in scheduled}


def test_both_are_off_by_default() -> None:
    config = load_config(environ={})
    assert config.samplers.smart.enabled is False and config.samplers.gpu.enabled is False
    assert {"smart", "gpu"}.isdisjoint(config.samplers.enabled)
    scheduled, _ = build_samplers(config)
    assert {"smart", "gpu"}.isdisjoint(by_name(scheduled))


def test_switched_on_they_are_scheduled_with_their_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no smartctl: the SMART look gives up at once
    scheduled, agent_self = build_samplers(load_config(environ=ON))
    entries = by_name(scheduled)
    smart, gpu = entries["smart"], entries["gpu"]
    assert isinstance(smart.sampler, SmartSampler) and isinstance(gpu.sampler, GpuSampler)
    # collect only hands out what the SMART thread read, so it may join the tick group
    assert smart.group == TICK_GROUP and smart.every_s is None
    assert gpu.group is None and gpu.every_s == 15
    smart.sampler.look()
    assert agent_self is not None
    health = {(m, labels) for m, labels, _ in agent_self.collect()}
    no_smartctl = (("sampler", "smart"), ("reason", "no_smartctl"))
    assert ("hostvitals_agent_sampler_unavailable", no_smartctl) in health
    assert ("hostvitals_agent_sampler_capped", (("sampler", "gpu"),)) in health


FAKE_PYNVML = """
class NVMLError(Exception):
    value = 12


def nvmlInit():
    raise NVMLError()
"""

SCRIPT = """
import sys
from hostvitals.agent.config import load_config
from hostvitals.agent.sampling import build_samplers

environ = {"HOSTVITALS_AGENT_SAMPLERS__PROCESSES__ENABLED": "false"}
if sys.argv[1] == "on":
    environ["HOSTVITALS_AGENT_SAMPLERS__GPU__ENABLED"] = "true"
scheduled, _ = build_samplers(load_config(environ=environ))
for entry in scheduled:
    entry.sampler.collect()
print("pynvml" in sys.modules)
"""


@pytest.mark.parametrize(("gpu", "imported"), [("off", "False"), ("on", "True")])
def test_the_agent_imports_nvidia_ml_py_only_for_the_gpu_sampler(
    tmp_path: Path, gpu: str, imported: str
) -> None:
    """A stand-in ``pynvml`` on the path shows whether anything imports it."""
    (tmp_path / "pynvml.py").write_text(FAKE_PYNVML)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOSTVITALS_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tmp_path), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, gpu], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == imported
