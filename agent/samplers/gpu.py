"""NVIDIA GPUs through NVML, under dcgm-exporter's names: ``DCGM_FI_DEV_GPU_UTIL`` (percent),
``DCGM_FI_DEV_FB_USED`` and ``DCGM_FI_DEV_FB_FREE`` (MiB), ``DCGM_FI_DEV_GPU_TEMP`` (Celsius)
and ``DCGM_FI_DEV_POWER_USAGE`` (watts), labelled ``gpu`` (NVML's index), ``UUID``,
``pci_bus_id``, ``device`` (``nvidia0``) and ``modelName``, as dcgm-exporter labels them.

NVML comes from nvidia-ml-py (``pip install 'hostvitals[gpu]'``), imported as ``pynvml`` only
when this sampler is on. Without it, without the driver's library, or without a GPU, the
sampler says so once and stays off until the agent restarts or a reload builds the
samplers anew. The GPUs are found once (at most ``max_gpus``), and their labels read then; each
collection reads the four NVML values of every GPU. A value a GPU does not support (power on
many consumer boards) is left out, said once at INFO; any other NVML error leaves out that
value for that collection, is counted and said once until the value reads again, and the
GPU's other values are still reported.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hostvitals.agent.samplers.base import Labels, Row, labels
from hostvitals.agent.samplers.health import SamplerHealth

log = logging.getLogger(__name__)

MAX_GPUS = 16
MIB = 1 << 20
MAX_LABEL = 128

UTIL = "DCGM_FI_DEV_GPU_UTIL"
FB_USED = "DCGM_FI_DEV_FB_USED"
FB_FREE = "DCGM_FI_DEV_FB_FREE"
TEMP = "DCGM_FI_DEV_GPU_TEMP"
POWER = "DCGM_FI_DEV_POWER_USAGE"

_REASONS = {
    "NVML_ERROR_GPU_IS_LOST": "gpu_lost",
    "NVML_ERROR_NO_PERMISSION": "no_permission",
    "NVML_ERROR_TIMEOUT": "timeout",
}
"""NVML errors counted under their own reason; the others count as ``nvml_error``."""

_init_lock = threading.Lock()
_initialised: list[Any] = []
"""The NVML modules initialised in this process: ``nvmlInit`` is called once for each."""


def import_pynvml() -> Any:
    return importlib.import_module("pynvml")


@dataclass(frozen=True, slots=True)
class GpuReading:
    """One GPU's values, each None when NVML did not give it."""

    util_percent: float | None = None
    fb_used_bytes: int | None = None
    fb_free_bytes: int | None = None
    temp_celsius: float | None = None
    power_milliwatts: float | None = None


def rows_from_reading(where: Labels, reading: GpuReading) -> list[Row]:
    """The rows of one GPU in dcgm-exporter's units; a value NVML did not give is left out.

    >>> rows_from_reading((("gpu", "0"),), GpuReading(power_milliwatts=71250))
    [('DCGM_FI_DEV_POWER_USAGE', (('gpu', '0'),), 71.25)]
    """
    values: list[tuple[str, float | int | None]] = [
        (UTIL, reading.util_percent),
        (FB_USED, None if reading.fb_used_bytes is None else reading.fb_used_bytes // MIB),
        (FB_FREE, None if reading.fb_free_bytes is None else reading.fb_free_bytes // MIB),
        (TEMP, reading.temp_celsius),
        (POWER, None if reading.power_milliwatts is None else reading.power_milliwatts / 1000),
    ]
    return [(metric, where, value) for metric, value in values if value is not None]


def text(value: Any) -> str:
    """A label value from NVML, which answers str or bytes depending on its version."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return str(value).strip().strip("\x00")[:MAX_LABEL]


def describe(exc: BaseException) -> str:
    try:
        return str(exc) or type(exc).__name__
    except Exception:  # an NVMLError's text comes from the library itself
        return type(exc).__name__


@dataclass(frozen=True, slots=True)
class Gpu:
    index: int
    handle: Any
    labels: Labels


class GpuSampler:
    name = "gpu"

    def __init__(
        self, *, max_gpus: int = MAX_GPUS, load: Callable[[], Any] = import_pynvml
    ) -> None:
        self.health = SamplerHealth(self.name, log)
        self._max = max_gpus
        self._load = load
        self._nvml: Any = None
        self._gpus: list[Gpu] | None = None
        self._unsupported: set[tuple[int, str]] = set()

    def stats_rows(self) -> list[Row]:
        return self.health.rows()

    def collect(self) -> list[Row]:
        gpus = self._discovered()
        rows: list[Row] = []
        for gpu in gpus:
            rows.extend(rows_from_reading(gpu.labels, self._read(gpu)))
        return rows

    def _discovered(self) -> list[Gpu]:
        if self._gpus is None:
            self._gpus = []
            nvml = self._init()
            if nvml is not None:
                self._gpus = self._discover(nvml)
        return self._gpus

    def _init(self) -> Any:
        try:
            nvml = self._load()
        except ImportError as exc:
            why = f"nvidia-ml-py is not installed (pip install 'hostvitals[gpu]'): {exc}"
            self.health.unavailable("no_pynvml", why)
            return None
        with _init_lock:
            if not any(module is nvml for module in _initialised):
                try:
                    nvml.nvmlInit()
                except nvml.NVMLError as exc:
                    why = f"NVML did not start (no NVIDIA driver?): {describe(exc)}"
                    self.health.unavailable("nvml_init_failed", why)
                    return None
                _initialised.append(nvml)
        self._nvml = nvml
        return nvml

    def _discover(self, nvml: Any) -> list[Gpu]:
        try:
            count = int(nvml.nvmlDeviceGetCount())
        except nvml.NVMLError as exc:
            self.health.unavailable("nvml_init_failed", f"NVML cannot count GPUs: {describe(exc)}")
            return []
        if count <= 0:
            self.health.unavailable("no_gpus", "NVML sees no GPU")
            return []
        self.health.capped(max(0, count - self._max), self._max, "GPUs")
        gpus = []
        for index in range(min(count, self._max)):
            try:
                handle = nvml.nvmlDeviceGetHandleByIndex(index)
            except nvml.NVMLError as exc:
                self._error(index, "handle", exc)
                continue
            gpus.append(Gpu(index, handle, self._labels(nvml, index, handle)))
        return gpus

    def _labels(self, nvml: Any, index: int, handle: Any) -> Labels:
        def ask(what: str, call: Callable[[], Any]) -> str:
            try:
                return text(call())
            except nvml.NVMLError as exc:
                self._error(index, what, exc)
                return ""

        minor = ask("minor number", lambda: nvml.nvmlDeviceGetMinorNumber(handle))
        return labels(
            gpu=str(index),
            UUID=ask("UUID", lambda: nvml.nvmlDeviceGetUUID(handle)),
            pci_bus_id=ask("PCI bus id", lambda: nvml.nvmlDeviceGetPciInfo(handle).busId),
            device=f"nvidia{minor}" if minor else "",
            modelName=ask("name", lambda: nvml.nvmlDeviceGetName(handle)),
        )

    def _read(self, gpu: Gpu) -> GpuReading:
        nvml, handle = self._nvml, gpu.handle

        def ask(what: str, call: Callable[[], Any]) -> Any:
            if (gpu.index, what) in self._unsupported:
                return None
            try:
                value = call()
            except nvml.NVMLError as exc:
                self._error(gpu.index, what, exc)
                return None
            self.health.forget((gpu.index, what))
            return value

        util = ask("utilisation", lambda: nvml.nvmlDeviceGetUtilizationRates(handle))
        memory = ask("memory", lambda: nvml.nvmlDeviceGetMemoryInfo(handle))
        sensor = nvml.NVML_TEMPERATURE_GPU
        temp = ask("temperature", lambda: nvml.nvmlDeviceGetTemperature(handle, sensor))
        power = ask("power", lambda: nvml.nvmlDeviceGetPowerUsage(handle))
        return GpuReading(
            util_percent=None if util is None else util.gpu,
            fb_used_bytes=None if memory is None else memory.used,
            fb_free_bytes=None if memory is None else memory.free,
            temp_celsius=temp,
            power_milliwatts=power,
        )

    def _error(self, index: int, what: str, exc: Exception) -> None:
        nvml = self._nvml
        code = getattr(exc, "value", None)
        key = (index, what)
        if code is not None and code == getattr(nvml, "NVML_ERROR_NOT_SUPPORTED", None):
            self._unsupported.add(key)
            log.info("GPU %d: %s not supported; not reported", index, what)
            return
        names = [name for name in _REASONS if getattr(nvml, name, None) == code]
        self.health.error(_REASONS[names[0]] if names else "nvml_error")
        why = describe(exc)
        self.health.say_once(key, logging.WARNING, "GPU %d: %s not read: %s", index, what, why)
