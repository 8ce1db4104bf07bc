"""The catalogue's optional device series: disk health from SMART (``smartctl``, under
smartctl_exporter's names) and NVIDIA GPUs (NVML, under dcgm-exporter's names).

Both samplers are off by default. smartctl_exporter declares several of these as counters
without a ``_total`` suffix; they are the drive's own readings, taken every few minutes, so
the catalogue keeps them as gauges (a rate of "percentage used" means nothing).

Part of ``hostvitals.shared.catalogue``, which holds them in ``CATALOGUE`` with the rest.
"""

from __future__ import annotations

from hostvitals.shared.metricspec import Kind, MetricSpec

_G = Kind.GAUGE

_DEVICE = ("device",)
GPU_LABELS = ("gpu", "UUID", "pci_bus_id", "device", "modelName")
"""dcgm-exporter's labels of a GPU series (it adds ``Hostname``; the collector adds ``host``)."""

DEVICE_SPECS: tuple[MetricSpec, ...] = (
    # disk health (smartctl --json)
    MetricSpec(
        "smartctl_devices",
        _G,
        "devices",
        "Disks smartctl found on the last look (before the sampler's limit).",
        (),
        "smart",
    ),
    MetricSpec(
        "smartctl_device",
        _G,
        "",
        "What a disk is (value 1, the labels say it).",
        (
            "device",
            "interface",
            "protocol",
            "model_family",
            "model_name",
            "serial_number",
            "firmware_version",
        ),
        "smart",
    ),
    MetricSpec(
        "smartctl_device_smart_status",
        _G,
        "boolean",
        "1 if the disk's overall SMART health check passed, 0 if it says the disk is failing.",
        _DEVICE,
        "smart",
    ),
    MetricSpec(
        "smartctl_device_smartctl_exit_status",
        _G,
        "",
        "smartctl's exit status for the disk, a bitmask (bit 3: disk failing, bit 4: prefail "
        "attributes at or below threshold, bit 6: errors logged, bit 7: self-test errors).",
        _DEVICE,
        "smart",
    ),
    MetricSpec(
        "hostvitals_smart_device_standby",
        _G,
        "boolean",
        "1 if the disk was asleep (standby) and left alone on the last look, else 0.",
        _DEVICE,
        "smart",
    ),
    MetricSpec(
        "smartctl_device_temperature",
        _G,
        "celsius",
        "Temperature the disk reports (temperature_type current, and the limits it states).",
        ("device", "temperature_type"),
        "smart",
    ),
    MetricSpec(
        "smartctl_device_power_on_seconds",
        _G,
        "seconds",
        "Time the disk has been powered on over its life.",
        _DEVICE,
        "smart",
    ),
    MetricSpec(
        "smartctl_device_power_cycle_count",
        _G,
        "cycles",
        "Times the disk has been powered on.",
        _DEVICE,
        "smart",
    ),
    MetricSpec(
        "smartctl_device_attribute",
        _G,
        "",
        "Raw value of the ATA attributes that predict failure (reallocated, pending and "
        "uncorrectable sectors, reported uncorrectable errors, interface CRC errors).",
        ("device", "attribute_id", "attribute_name", "attribute_value_type"),
        "smart",
    ),
    MetricSpec(
        "smartctl_device_percentage_used",
        _G,
        "percent",
        "NVMe: share of the drive's rated endurance used (can exceed 100).",
        _DEVICE,
        "smart",
    ),
    MetricSpec(
        "smartctl_device_available_spare",
        _G,
        "percent",
        "NVMe: remaining spare capacity.",
        _DEVICE,
        "smart",
    ),
    MetricSpec(
        "smartctl_device_critical_warning",
        _G,
        "",
        "NVMe: the critical warning bits of the health log (0 when all is well).",
        _DEVICE,
        "smart",
    ),
    MetricSpec(
        "smartctl_device_media_errors",
        _G,
        "errors",
        "NVMe: unrecovered data integrity errors over the drive's life.",
        _DEVICE,
        "smart",
    ),
    # NVIDIA GPUs (NVML)
    MetricSpec("DCGM_FI_DEV_GPU_UTIL", _G, "percent", "GPU utilisation.", GPU_LABELS, "gpu"),
    MetricSpec(
        "DCGM_FI_DEV_FB_USED",
        _G,
        "mebibytes",
        "Framebuffer memory used, in MiB.",
        GPU_LABELS,
        "gpu",
    ),
    MetricSpec(
        "DCGM_FI_DEV_FB_FREE",
        _G,
        "mebibytes",
        "Framebuffer memory free, in MiB.",
        GPU_LABELS,
        "gpu",
    ),
    MetricSpec("DCGM_FI_DEV_GPU_TEMP", _G, "celsius", "GPU temperature.", GPU_LABELS, "gpu"),
    MetricSpec("DCGM_FI_DEV_POWER_USAGE", _G, "watts", "Power draw.", GPU_LABELS, "gpu"),
)
