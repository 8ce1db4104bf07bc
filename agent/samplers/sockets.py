"""Sockets in use (``node_sockstat_*``) and a fixed handful of TCP/UDP protocol counters
(``node_netstat_*``), under node_exporter's names.

``/proc/net/sockstat`` (and ``sockstat6``, absent when IPv6 is off) count sockets per
protocol; ``/proc/net/snmp`` and ``/proc/net/netstat`` are pairs of lines, a header of field
names and a line of values, per protocol. These files belong to the network namespace of the
reader, so the agent reports the host's only when it shares the host's network (as the
Kubernetes DaemonSet does with ``hostNetwork``).
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from pathlib import Path

from hostvitals.agent.samplers.base import NO_LABELS, Row
from hostvitals.agent.samplers.paths import HostPaths, read_small

Sockstat = dict[str, dict[str, int]]

SOCKSTAT_FIELDS: tuple[tuple[str, str], ...] = (
    ("sockets", "used"),
    ("TCP", "inuse"),
    ("TCP", "orphan"),
    ("TCP", "tw"),
    ("TCP", "alloc"),
    ("TCP", "mem"),
    ("UDP", "inuse"),
    ("UDP", "mem"),
)
SOCKSTAT6_FIELDS: tuple[tuple[str, str], ...] = (("TCP6", "inuse"), ("UDP6", "inuse"))

NETSTAT_FIELDS: tuple[str, ...] = (
    "Tcp_CurrEstab",
    "Tcp_ActiveOpens",
    "Tcp_PassiveOpens",
    "Tcp_RetransSegs",
    "TcpExt_ListenOverflows",
    "TcpExt_ListenDrops",
    "Udp_InErrors",
)
"""The protocol counters reported, as ``<protocol>_<field>``: a bounded list, not all of
the few hundred fields the kernel has."""


def parse_sockstat(text: str) -> Sockstat:
    """``TCP: inuse 27 orphan 0`` lines as ``{"TCP": {"inuse": 27, "orphan": 0}}``."""
    out: Sockstat = {}
    for line in text.splitlines():
        protocol, sep, rest = line.partition(":")
        words = rest.split()
        if not sep or len(words) % 2:
            continue
        fields = out.setdefault(protocol.strip(), {})
        for name, value in zip(words[::2], words[1::2], strict=True):
            if value.isdigit():
                fields[name] = int(value)
    return out


def rows_from_sockstat(stat: Sockstat, stat6: Sockstat | None, page_size: int) -> list[Row]:
    """The sockstat rows; ``TCP_mem`` is in pages, so ``TCP_mem_bytes`` is added from it."""
    rows: list[Row] = []
    for protocol, field in SOCKSTAT_FIELDS:
        value = stat.get(protocol, {}).get(field)
        if value is None:
            continue
        rows.append((f"node_sockstat_{protocol}_{field}", NO_LABELS, value))
        if (protocol, field) == ("TCP", "mem"):
            rows.append(("node_sockstat_TCP_mem_bytes", NO_LABELS, value * page_size))
    if stat6 is not None:
        for protocol, field in SOCKSTAT6_FIELDS:
            value = stat6.get(protocol, {}).get(field)
            if value is not None:
                rows.append((f"node_sockstat_{protocol}_{field}", NO_LABELS, value))
    return rows


NETSTAT_PROTOCOLS = frozenset(field.split("_", 1)[0] for field in NETSTAT_FIELDS)


def parse_netstat(text: str, protocols: Collection[str] | None = None) -> dict[str, int]:
    """``/proc/net/snmp`` or ``/proc/net/netstat`` as ``{"Tcp_CurrEstab": 14, ...}``.

    Lines come in pairs with the same ``Protocol:`` prefix, names first; a pair whose
    lengths differ is skipped, and so is a value that is not an integer (negative ones, like
    ``MaxConn -1``, are integers). With ``protocols``, the values of other protocols are not
    converted (``TcpExt`` alone has over a hundred fields).
    """
    out: dict[str, int] = {}
    header: tuple[str, list[str]] | None = None
    for line in text.splitlines():
        protocol, sep, rest = line.partition(":")
        words = rest.split()
        if not sep:
            header = None
        elif header is None or header[0] != protocol:
            header = (protocol, words)
        else:
            names, header = header[1], None
            if len(names) != len(words) or (protocols is not None and protocol not in protocols):
                continue
            for name, value in zip(names, words, strict=True):
                try:
                    out[f"{protocol}_{name}"] = int(value)
                except ValueError:
                    continue
    return out


def rows_from_netstat(values: Mapping[str, int]) -> list[Row]:
    return [
        (f"node_netstat_{field}", NO_LABELS, values[field])
        for field in NETSTAT_FIELDS
        if field in values
    ]


def _read_optional(path: Path) -> str | None:
    try:
        return read_small(path)
    except FileNotFoundError:
        return None


class SocketsSampler:
    name = "sockets"

    def __init__(self, paths: HostPaths | None = None, page_size: int | None = None) -> None:
        paths = paths or HostPaths()
        self._sockstat = paths.proc("net", "sockstat")
        self._sockstat6 = paths.proc("net", "sockstat6")
        self._snmp = paths.proc("net", "snmp")
        self._netstat = paths.proc("net", "netstat")
        self._page_size = page_size or os.sysconf("SC_PAGE_SIZE")

    def collect(self) -> list[Row]:
        stat = parse_sockstat(read_small(self._sockstat))
        text6 = _read_optional(self._sockstat6)  # no IPv6
        stat6 = parse_sockstat(text6) if text6 is not None else None
        rows = rows_from_sockstat(stat, stat6, self._page_size)
        counters: dict[str, int] = {}
        for path in (self._snmp, self._netstat):
            text = _read_optional(path)
            if text is not None:
                counters.update(parse_netstat(text, NETSTAT_PROTOCOLS))
        rows.extend(rows_from_netstat(counters))
        return rows
