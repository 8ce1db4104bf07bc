"""Sockets: sockstat and the snmp/netstat line pairs on literal contents."""

from __future__ import annotations

from pathlib import Path

from hostvitals.agent.samplers.paths import HostPaths
from hostvitals.agent.samplers.sockets import (
    NETSTAT_FIELDS,
    SocketsSampler,
    parse_netstat,
    parse_sockstat,
    rows_from_netstat,
    rows_from_sockstat,
)

SOCKSTAT = """\
sockets: used 229
TCP: inuse 4 orphan 1 tw 4 alloc 17 mem 3
UDP: inuse 2 mem 5
UDPLITE: inuse 0
RAW: inuse 0
FRAG: inuse 0 memory 0
"""
SOCKSTAT6 = "TCP6: inuse 17\nUDP6: inuse 9\nUDPLITE6: inuse 0\nRAW6: inuse 1\n"

SNMP = """\
Ip: Forwarding DefaultTTL InReceives
Ip: 1 64 2354322
IcmpMsg: InType3 OutType3
IcmpMsg: 45 50
Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails EstabResets CurrEstab InSegs OutSegs RetransSegs InErrs OutRsts InCsumErrors
Tcp: 1 200 120000 -1 3556 230 341 161 12 2329216 2052409 227 5 1588 0
Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti
Udp: 87209 165 7 87236 0 0 0 8
"""  # noqa: E501 - a real header line
NETSTAT = """\
TcpExt: SyncookiesSent ListenOverflows ListenDrops TCPHPHits
TcpExt: 0 38 41 482513
IpExt: InNoRoutes InOctets
IpExt: 0 3287405912
"""


def values(rows: list[tuple[str, tuple[tuple[str, str], ...], float | int]]) -> dict[str, float]:
    return {metric: value for metric, _, value in rows}


def test_sockstat_lines_become_fields_per_protocol() -> None:
    stat = parse_sockstat(SOCKSTAT)
    assert stat["sockets"] == {"used": 229}
    assert stat["TCP"] == {"inuse": 4, "orphan": 1, "tw": 4, "alloc": 17, "mem": 3}
    assert stat["FRAG"] == {"inuse": 0, "memory": 0}


def test_sockstat_rows_with_ipv6_and_memory_in_bytes() -> None:
    rows = rows_from_sockstat(parse_sockstat(SOCKSTAT), parse_sockstat(SOCKSTAT6), 4096)
    assert values(rows) == {
        "node_sockstat_sockets_used": 229,
        "node_sockstat_TCP_inuse": 4,
        "node_sockstat_TCP_orphan": 1,
        "node_sockstat_TCP_tw": 4,
        "node_sockstat_TCP_alloc": 17,
        "node_sockstat_TCP_mem": 3,
        "node_sockstat_TCP_mem_bytes": 3 * 4096,
        "node_sockstat_UDP_inuse": 2,
        "node_sockstat_UDP_mem": 5,
        "node_sockstat_TCP6_inuse": 17,
        "node_sockstat_UDP6_inuse": 9,
    }


def test_sockstat_without_ipv6() -> None:
    rows = values(rows_from_sockstat(parse_sockstat(SOCKSTAT), None, 4096))
    assert "node_sockstat_TCP6_inuse" not in rows and "node_sockstat_UDP6_inuse" not in rows
    assert len(rows) == 9


def test_sockstat_of_an_older_kernel_without_some_fields() -> None:
    rows = values(rows_from_sockstat(parse_sockstat("TCP: inuse 5 orphan 0 tw 2\n"), None, 4096))
    assert rows == {
        "node_sockstat_TCP_inuse": 5,
        "node_sockstat_TCP_orphan": 0,
        "node_sockstat_TCP_tw": 2,
    }


def test_sockstat_skips_malformed_lines() -> None:
    assert parse_sockstat("garbage\nTCP: inuse\nUDP: inuse x mem 2\n") == {"UDP": {"mem": 2}}


def test_netstat_pairs_header_and_values_per_protocol() -> None:
    parsed = parse_netstat(SNMP)
    assert parsed["Tcp_CurrEstab"] == 12
    assert parsed["Tcp_MaxConn"] == -1
    assert parsed["Udp_InErrors"] == 7
    assert parsed["IcmpMsg_OutType3"] == 50
    assert parse_netstat(NETSTAT)["TcpExt_ListenDrops"] == 41


def test_netstat_rows_are_the_fixed_list_only() -> None:
    rows = rows_from_netstat(parse_netstat(SNMP) | parse_netstat(NETSTAT))
    assert values(rows) == {
        "node_netstat_Tcp_CurrEstab": 12,
        "node_netstat_Tcp_ActiveOpens": 3556,
        "node_netstat_Tcp_PassiveOpens": 230,
        "node_netstat_Tcp_RetransSegs": 227,
        "node_netstat_TcpExt_ListenOverflows": 38,
        "node_netstat_TcpExt_ListenDrops": 41,
        "node_netstat_Udp_InErrors": 7,
    }
    assert len(rows) == len(NETSTAT_FIELDS)


def test_netstat_converts_only_the_protocols_asked_for() -> None:
    assert parse_netstat(SNMP, {"Udp"}) == {
        "Udp_InDatagrams": 87209,
        "Udp_NoPorts": 165,
        "Udp_InErrors": 7,
        "Udp_OutDatagrams": 87236,
        "Udp_RcvbufErrors": 0,
        "Udp_SndbufErrors": 0,
        "Udp_InCsumErrors": 0,
        "Udp_IgnoredMulti": 8,
    }


def test_netstat_skips_a_pair_whose_lengths_differ_and_keeps_the_rest() -> None:
    text = "Tcp: A B C\nTcp: 1 2\nUdp: InErrors\nUdp: 3\n"
    assert parse_netstat(text) == {"Udp_InErrors": 3}


def test_netstat_an_unpaired_header_does_not_shift_the_pairs() -> None:
    text = "Ip: Forwarding\nTcp: CurrEstab\nTcp: 4\nUdp: InErrors x\nUdp: 5 y\n"
    assert parse_netstat(text) == {"Tcp_CurrEstab": 4, "Udp_InErrors": 5}


def test_a_host_without_ipv6_has_no_sockstat6(tmp_path: Path) -> None:
    net = tmp_path / "net"
    net.mkdir()
    (net / "sockstat").write_text(SOCKSTAT)
    (net / "snmp").write_text(SNMP)
    (net / "netstat").write_text(NETSTAT)
    rows = values(SocketsSampler(HostPaths(procfs=tmp_path), page_size=4096).collect())
    assert "node_sockstat_TCP6_inuse" not in rows
    assert len(rows) == 9 + len(NETSTAT_FIELDS)
