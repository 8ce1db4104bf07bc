"""Per-interface traffic, packets, errors and drops (``node_network_*``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import psutil

from hostvitals.agent.samplers.base import Row, labels

LOOPBACK = "lo"

_COUNTERS: tuple[tuple[str, str], ...] = (
    ("bytes_recv", "node_network_receive_bytes_total"),
    ("bytes_sent", "node_network_transmit_bytes_total"),
    ("packets_recv", "node_network_receive_packets_total"),
    ("packets_sent", "node_network_transmit_packets_total"),
    ("errin", "node_network_receive_errs_total"),
    ("errout", "node_network_transmit_errs_total"),
    ("dropin", "node_network_receive_drop_total"),
    ("dropout", "node_network_transmit_drop_total"),
)


def rows_from_net_counters(
    per_nic: Mapping[str, Any], *, include_loopback: bool = False
) -> list[Row]:
    """Rows for ``psutil.net_io_counters(pernic=True)``; missing fields are skipped."""
    rows: list[Row] = []
    for device, counters in per_nic.items():
        if device == LOOPBACK and not include_loopback:
            continue
        device_labels = labels(device=device)
        for attr, metric in _COUNTERS:
            value = getattr(counters, attr, None)
            if value is not None:
                rows.append((metric, device_labels, int(value)))
    return rows


class NetworkSampler:
    name = "network"

    def __init__(self, *, include_loopback: bool = False) -> None:
        self._include_loopback = include_loopback

    def collect(self) -> list[Row]:
        counters = psutil.net_io_counters(pernic=True, nowrap=True)
        return rows_from_net_counters(counters, include_loopback=self._include_loopback)
