"""The GPU sampler with a fake ``pynvml`` module handed to it (no GPU here): what it reports
under dcgm-exporter's names, and how it behaves without the library, when NVML does not start,
without GPUs, and when one GPU fails one value; last, the real nvidia-ml-py where the NVIDIA
driver is missing."""

from __future__ import annotations

import ctypes.util
import logging
from collections import Counter
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from hostvitals.agent.samplers.base import Labels, Row
from hostvitals.agent.samplers.gpu import GpuReading, GpuSampler, rows_from_reading
from hostvitals.shared.catalogue import CATALOGUE

LOGGER = "hostvitals.agent.samplers.gpu"
MIB = 1 << 20


class NVMLError(Exception):
    """As nvidia-ml-py's: the NVML return code in ``value``."""

    TEXT = {3: "Not Supported", 12: "NVML Shared Library Not Found", 15: "GPU is lost"}

    def __init__(self, value: int) -> None:
        super().__init__(value)
        self.value = value

    def __str__(self) -> str:
        return self.TEXT.get(self.value, f"NVML error {self.value}")


class FakeNvml(ModuleType):
    """The part of pynvml the sampler uses, over a list of GPUs; ``fail`` makes a call of
    one GPU raise the NVML error given."""

    NVMLError = NVMLError
    NVML_ERROR_NOT_SUPPORTED = 3
    NVML_ERROR_NO_PERMISSION = 4
    NVML_ERROR_TIMEOUT = 10
    NVML_ERROR_LIBRARY_NOT_FOUND = 12
    NVML_ERROR_GPU_IS_LOST = 15
    NVML_TEMPERATURE_GPU = 0

    def __init__(self, gpus: list[dict[str, Any]], init_error: int | None = None) -> None:
        super().__init__("pynvml")
        self.gpus = gpus
        self.init_error = init_error
        self.fail: dict[tuple[int, str], int] = {}
        self.calls: Counter[str] = Counter()
        self.inits = 0

    def _ask(self, handle: int, call: str) -> dict[str, Any]:
        self.calls[call] += 1
        code = self.fail.get((handle, call))
        if code is not None:
            raise NVMLError(code)
        return self.gpus[handle]

    def nvmlInit(self) -> None:
        self.inits += 1
        if self.init_error is not None:
            raise NVMLError(self.init_error)

    def nvmlDeviceGetCount(self) -> int:
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        return index

    def nvmlDeviceGetUUID(self, handle: int) -> str:
        return str(self._ask(handle, "uuid")["uuid"])

    def nvmlDeviceGetName(self, handle: int) -> bytes:
        return str(self._ask(handle, "name")["name"]).encode()  # older versions answer bytes

    def nvmlDeviceGetPciInfo(self, handle: int) -> SimpleNamespace:
        return SimpleNamespace(busId=self._ask(handle, "pci")["bus"].encode())

    def nvmlDeviceGetMinorNumber(self, handle: int) -> int:
        return int(self._ask(handle, "minor")["minor"])

    def nvmlDeviceGetUtilizationRates(self, handle: int) -> SimpleNamespace:
        return SimpleNamespace(gpu=self._ask(handle, "util")["util"], memory=5)

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> SimpleNamespace:
        gpu = self._ask(handle, "memory")
        return SimpleNamespace(total=gpu["used"] + gpu["free"], used=gpu["used"], free=gpu["free"])

    def nvmlDeviceGetTemperature(self, handle: int, sensor: int) -> int:
        assert sensor == self.NVML_TEMPERATURE_GPU
        return int(self._ask(handle, "temp")["temp"])

    def nvmlDeviceGetPowerUsage(self, handle: int) -> int:
        return int(self._ask(handle, "power")["power_mw"])


def two_gpus() -> FakeNvml:
    return FakeNvml(
        [
            {
                "uuid": "GPU-604ac76c-d9cf-fef3-62e9-d92044ab6e52",
                "name": "NVIDIA A100-SXM4-40GB",
                "bus": "00000000:07:00.0",
                "minor": 0,
                "util": 87,
                "used": 30_000 * MIB + 123,
                "free": 10_536 * MIB,
                "temp": 61,
                "power_mw": 312_456,
            },
            {
                "uuid": "GPU-0b5e3c6a-1f2d-4e5f-8a9b-0c1d2e3f4a5b",
                "name": "NVIDIA GeForce RTX 3060",
                "bus": "00000000:0A:00.0",
                "minor": 1,
                "util": 0,
                "used": 512 * MIB,
                "free": 11_776 * MIB,
                "temp": 38,
                "power_mw": 14_000,
            },
        ]
    )


def sampler_of(nvml: FakeNvml, **kwargs: Any) -> GpuSampler:
    return GpuSampler(load=lambda: nvml, **kwargs)


def by_series(rows: list[Row]) -> dict[tuple[str, Labels], float | int]:
    return {(metric, labels): value for metric, labels, value in rows}


def per_gpu(rows: list[Row]) -> dict[str, dict[str, float | int]]:
    out: dict[str, dict[str, float | int]] = {}
    for metric, labels, value in rows:
        out.setdefault(dict(labels)["gpu"], {})[metric] = value
    return out


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER]


def stats(sampler: GpuSampler) -> dict[tuple[str, Labels], float | int]:
    return by_series(sampler.stats_rows())


def unavailable(reason: str) -> tuple[str, Labels]:
    return ("hostvitals_agent_sampler_unavailable", (("sampler", "gpu"), ("reason", reason)))


def errors(reason: str) -> tuple[str, Labels]:
    return ("hostvitals_agent_device_read_errors_total", (("sampler", "gpu"), ("reason", reason)))


def test_every_gpu_under_dcgm_exporters_names_labels_and_units() -> None:
    rows = sampler_of(two_gpus()).collect()
    assert per_gpu(rows) == {
        "0": {
            "DCGM_FI_DEV_GPU_UTIL": 87,
            "DCGM_FI_DEV_FB_USED": 30_000,
            "DCGM_FI_DEV_FB_FREE": 10_536,
            "DCGM_FI_DEV_GPU_TEMP": 61,
            "DCGM_FI_DEV_POWER_USAGE": 312.456,
        },
        "1": {
            "DCGM_FI_DEV_GPU_UTIL": 0,
            "DCGM_FI_DEV_FB_USED": 512,
            "DCGM_FI_DEV_FB_FREE": 11_776,
            "DCGM_FI_DEV_GPU_TEMP": 38,
            "DCGM_FI_DEV_POWER_USAGE": 14.0,
        },
    }
    first = next(dict(labels) for _, labels, _ in rows if dict(labels)["gpu"] == "0")
    assert first == {
        "gpu": "0",
        "UUID": "GPU-604ac76c-d9cf-fef3-62e9-d92044ab6e52",
        "pci_bus_id": "00000000:07:00.0",
        "device": "nvidia0",
        "modelName": "NVIDIA A100-SXM4-40GB",
    }
    for metric, labels, _ in rows:
        assert metric in CATALOGUE and CATALOGUE[metric].group == "gpu"
        assert sorted(k for k, _ in labels) == sorted(CATALOGUE[metric].labels)


def test_nvml_starts_once_and_labels_are_read_once() -> None:
    nvml = two_gpus()
    sampler = sampler_of(nvml)
    for _ in range(3):
        sampler.collect()
    sampler_of(nvml).collect()  # a reload builds a new sampler: NVML is not started again
    assert nvml.inits == 1
    assert nvml.calls["uuid"] == 4  # two GPUs, two samplers
    assert nvml.calls["util"] == 8


def test_without_nvidia_ml_py_it_says_so_once(caplog: pytest.LogCaptureFixture) -> None:
    def missing() -> ModuleType:
        raise ModuleNotFoundError("No module named 'pynvml'")

    sampler = GpuSampler(load=missing)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        assert sampler.collect() == []
        assert sampler.collect() == []
    assert messages(caplog) == [
        "gpu not reported: nvidia-ml-py is not installed (pip install 'hostvitals[gpu]'): "
        "No module named 'pynvml'"
    ]
    assert stats(sampler)[unavailable("no_pynvml")] == 1


def test_when_nvml_does_not_start_it_says_so_once(caplog: pytest.LogCaptureFixture) -> None:
    nvml = FakeNvml([], init_error=FakeNvml.NVML_ERROR_LIBRARY_NOT_FOUND)
    sampler = sampler_of(nvml)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        assert sampler.collect() == []
        assert sampler.collect() == []
    assert nvml.inits == 1
    assert messages(caplog) == [
        "gpu not reported: NVML did not start (no NVIDIA driver?): NVML Shared Library Not Found"
    ]
    assert stats(sampler)[unavailable("nvml_init_failed")] == 1


def test_without_gpus_it_says_so_once(caplog: pytest.LogCaptureFixture) -> None:
    sampler = sampler_of(FakeNvml([]))
    with caplog.at_level(logging.INFO, logger=LOGGER):
        assert sampler.collect() == []
        assert sampler.collect() == []
    assert messages(caplog) == ["gpu not reported: NVML sees no GPU"]
    assert stats(sampler)[unavailable("no_gpus")] == 1


def test_a_value_a_gpu_does_not_support_is_left_out_and_not_asked_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    nvml = two_gpus()
    nvml.fail[(1, "power")] = FakeNvml.NVML_ERROR_NOT_SUPPORTED
    sampler = sampler_of(nvml)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        rows = sampler.collect()
        sampler.collect()
    gpus = per_gpu(rows)
    assert "DCGM_FI_DEV_POWER_USAGE" not in gpus["1"]
    assert gpus["1"]["DCGM_FI_DEV_GPU_TEMP"] == 38 and len(gpus["1"]) == 4
    assert len(gpus["0"]) == 5
    assert nvml.calls["power"] == 3  # GPU 0 twice, GPU 1 once
    assert messages(caplog) == ["GPU 1: power not supported; not reported"]
    assert not [key for key in stats(sampler) if key[0].endswith("_errors_total")]


def test_a_failing_value_is_counted_said_once_and_the_others_still_reported(
    caplog: pytest.LogCaptureFixture,
) -> None:
    nvml = two_gpus()
    nvml.fail[(0, "temp")] = FakeNvml.NVML_ERROR_GPU_IS_LOST
    sampler = sampler_of(nvml)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        rows = sampler.collect()
        sampler.collect()
        del nvml.fail[(0, "temp")]
        assert per_gpu(sampler.collect())["0"]["DCGM_FI_DEV_GPU_TEMP"] == 61
        nvml.fail[(0, "temp")] = 999  # an error without a reason of its own
        sampler.collect()
    gpus = per_gpu(rows)
    assert "DCGM_FI_DEV_GPU_TEMP" not in gpus["0"] and len(gpus["0"]) == 4
    assert len(gpus["1"]) == 5
    assert messages(caplog) == [
        "GPU 0: temperature not read: GPU is lost",
        "GPU 0: temperature not read: NVML error 999",
    ]
    found = stats(sampler)
    assert found[errors("gpu_lost")] == 2
    assert found[errors("nvml_error")] == 1


def test_a_label_nvml_cannot_give_is_empty_and_counted() -> None:
    nvml = two_gpus()
    nvml.fail[(1, "uuid")] = FakeNvml.NVML_ERROR_NO_PERMISSION
    sampler = sampler_of(nvml)
    labels = {dict(lab)["gpu"]: dict(lab) for _, lab, _ in sampler.collect()}
    assert labels["1"]["UUID"] == "" and labels["1"]["modelName"] == "NVIDIA GeForce RTX 3060"
    assert stats(sampler)[errors("no_permission")] == 1


def test_at_most_max_gpus_are_reported_and_the_rest_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sampler = sampler_of(two_gpus(), max_gpus=1)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert set(per_gpu(sampler.collect())) == {"0"}
    assert stats(sampler)[("hostvitals_agent_sampler_capped", (("sampler", "gpu"),))] == 1
    assert messages(caplog) == ["1 GPUs not reported: at most 1 are"]


def test_rows_from_a_reading_leave_out_what_nvml_did_not_give() -> None:
    where = (("gpu", "0"),)
    assert rows_from_reading(where, GpuReading()) == []
    assert rows_from_reading(where, GpuReading(fb_used_bytes=3 * MIB - 1, temp_celsius=40)) == [
        ("DCGM_FI_DEV_FB_USED", where, 2),
        ("DCGM_FI_DEV_GPU_TEMP", where, 40),
    ]


def test_the_real_bindings_without_a_driver_say_nvml_did_not_start(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """nvidia-ml-py itself, on a machine without the NVIDIA driver's library."""
    pytest.importorskip("pynvml")
    if ctypes.util.find_library("nvidia-ml"):
        pytest.skip("this machine has the NVIDIA driver's library")
    sampler = GpuSampler()
    with caplog.at_level(logging.INFO, logger=LOGGER):
        assert sampler.collect() == []
        assert sampler.collect() == []
    assert stats(sampler)[unavailable("nvml_init_failed")] == 1
    [said] = messages(caplog)
    assert said.startswith("gpu not reported: NVML did not start (no NVIDIA driver?): ")
