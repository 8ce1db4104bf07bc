"""The catalogue's host-wide series beyond CPU, memory, disks and network: pressure stall
information, kernel counters (``/proc/stat``, file handles, entropy), sockets and TCP/UDP
counters, temperatures, services and containers, and the ``*_info`` series that say what the
host is (value 1, labels only).

Part of ``hostvitals.shared.catalogue``, which holds them in ``CATALOGUE`` with the rest.
"""

from __future__ import annotations

from hostvitals.shared.metricspec import Kind, MetricSpec, family

_G, _C = Kind.GAUGE, Kind.COUNTER

HOST_SPECS: tuple[MetricSpec, ...] = (
    # pressure stall information
    *family(
        "pressure",
        _C,
        "seconds",
        ("node_pressure_cpu_waiting_seconds_total", "Seconds some task waited for a CPU."),
        ("node_pressure_io_waiting_seconds_total", "Seconds some task waited for I/O."),
        ("node_pressure_io_stalled_seconds_total", "Seconds all non-idle tasks stalled on I/O."),
        ("node_pressure_memory_waiting_seconds_total", "Seconds some task waited for memory."),
        (
            "node_pressure_memory_stalled_seconds_total",
            "Seconds all non-idle tasks stalled on memory.",
        ),
    ),
    # kernel-wide counters and gauges (/proc/stat, file handles, entropy)
    MetricSpec(
        "node_boot_time_seconds",
        _G,
        "seconds",
        "When the host booted, in Unix seconds.",
        (),
        "system",
    ),
    *family(
        "system",
        _C,
        "events",
        ("node_context_switches_total", "Context switches."),
        ("node_intr_total", "Interrupts serviced."),
        ("node_forks_total", "Processes and threads created."),
    ),
    *family(
        "system",
        _G,
        "tasks",
        ("node_procs_running", "Tasks runnable (running or waiting for a CPU)."),
        ("node_procs_blocked", "Tasks blocked waiting for I/O."),
    ),
    *family(
        "system",
        _G,
        "files",
        ("node_filefd_allocated", "File handles allocated."),
        ("node_filefd_maximum", "Most file handles the kernel allocates (fs.file-max)."),
    ),
    MetricSpec("node_entropy_available_bits", _G, "bits", "Entropy available.", (), "system"),
    # sockets (/proc/net/sockstat{,6}) and TCP/UDP counters (/proc/net/{snmp,netstat})
    *family(
        "sockets",
        _G,
        "sockets",
        ("node_sockstat_sockets_used", "Sockets in use, all protocols."),
        ("node_sockstat_TCP_inuse", "TCP (IPv4) sockets in use."),
        ("node_sockstat_TCP_orphan", "TCP sockets no longer attached to a process."),
        ("node_sockstat_TCP_tw", "TCP sockets in TIME_WAIT."),
        ("node_sockstat_TCP_alloc", "TCP sockets allocated (all states, IPv4 and IPv6)."),
        ("node_sockstat_UDP_inuse", "UDP (IPv4) sockets in use."),
        ("node_sockstat_TCP6_inuse", "TCP IPv6 sockets in use."),
        ("node_sockstat_UDP6_inuse", "UDP IPv6 sockets in use."),
    ),
    *family(
        "sockets",
        _G,
        "pages",
        ("node_sockstat_TCP_mem", "Memory pages TCP sockets use."),
        ("node_sockstat_UDP_mem", "Memory pages UDP sockets use."),
    ),
    MetricSpec(
        "node_sockstat_TCP_mem_bytes", _G, "bytes", "Memory TCP sockets use.", (), "sockets"
    ),
    # node_exporter's netstat names: counters without the _total suffix.
    MetricSpec(
        "node_netstat_Tcp_CurrEstab",
        _G,
        "connections",
        "TCP connections in ESTABLISHED or CLOSE_WAIT.",
        (),
        "sockets",
    ),
    *family(
        "sockets",
        _C,
        "connections",
        ("node_netstat_Tcp_ActiveOpens", "TCP connections opened by this host (SYN sent)."),
        ("node_netstat_Tcp_PassiveOpens", "TCP connections accepted (SYN received)."),
        ("node_netstat_TcpExt_ListenOverflows", "Connections dropped: accept queue full."),
        ("node_netstat_TcpExt_ListenDrops", "Connections dropped by a listening socket."),
    ),
    *family(
        "sockets",
        _C,
        "segments",
        ("node_netstat_Tcp_RetransSegs", "TCP segments retransmitted."),
    ),
    *family(
        "sockets",
        _C,
        "datagrams",
        ("node_netstat_Udp_InErrors", "UDP datagrams received with errors (not delivered)."),
    ),
    # temperatures (/sys/class/hwmon, /sys/class/thermal)
    MetricSpec(
        "node_hwmon_temp_celsius",
        _G,
        "celsius",
        "Temperature of one hwmon sensor.",
        ("chip", "sensor"),
        "sensors",
    ),
    MetricSpec(
        "node_hwmon_temp_max_celsius",
        _G,
        "celsius",
        "Temperature at which the chip says a sensor runs hot.",
        ("chip", "sensor"),
        "sensors",
    ),
    MetricSpec(
        "node_hwmon_temp_crit_celsius",
        _G,
        "celsius",
        "Temperature the chip calls critical for a sensor.",
        ("chip", "sensor"),
        "sensors",
    ),
    MetricSpec(
        "node_hwmon_sensor_label",
        _G,
        "",
        "The chip's own name for a sensor (value 1, the label says it).",
        ("chip", "sensor", "label"),
        "sensors",
    ),
    MetricSpec(
        "node_thermal_zone_temp",
        _G,
        "celsius",
        "Temperature of one thermal zone.",
        ("type", "zone"),
        "sensors",
    ),
    # services and containers (cgroup v2), under cAdvisor's names
    *(
        MetricSpec(name, kind, unit, text, ("kind", "runtime", "name"), "cgroups")
        for name, kind, unit, text in (
            (
                "container_cpu_usage_seconds_total",
                _C,
                "seconds",
                "CPU time of a service or container.",
            ),
            ("container_memory_usage_bytes", _G, "bytes", "Memory charged to it (memory.current)."),
            (
                "container_memory_working_set_bytes",
                _G,
                "bytes",
                "Memory in use less inactive file pages, as cAdvisor counts it.",
            ),
            ("container_fs_reads_bytes_total", _C, "bytes", "Bytes it read from block devices."),
            ("container_fs_writes_bytes_total", _C, "bytes", "Bytes it wrote to block devices."),
            ("container_oom_events_total", _C, "events", "Its processes the OOM killer killed."),
            (
                "container_pressure_cpu_waiting_seconds_total",
                _C,
                "seconds",
                "Seconds some of its tasks waited for a CPU.",
            ),
            (
                "container_pressure_memory_waiting_seconds_total",
                _C,
                "seconds",
                "Seconds some of its tasks waited for memory.",
            ),
            (
                "container_pressure_io_waiting_seconds_total",
                _C,
                "seconds",
                "Seconds some of its tasks waited for I/O.",
            ),
        )
    ),
    MetricSpec(
        "hostvitals_container_info",
        _G,
        "",
        "A reported container's image and short id (value 1, the labels say it).",
        ("runtime", "name", "image", "id"),
        "cgroups",
    ),
    # systemd units
    MetricSpec(
        "node_systemd_unit_state",
        _G,
        "",
        "A failed or activating unit (every loaded unit with all_units); value 1.",
        ("name", "state", "type"),
        "units",
    ),
    MetricSpec("node_systemd_units", _G, "units", "Units per active state.", ("state",), "units"),
    # what the host is: value 1, the labels say it
    MetricSpec(
        "node_uname_info",
        _G,
        "",
        "Kernel and host name, from uname(2).",
        ("sysname", "release", "version", "machine", "nodename"),
        "info",
    ),
    MetricSpec(
        "node_os_info",
        _G,
        "",
        "Distribution, from os-release.",
        ("id", "name", "version_id", "pretty_name"),
        "info",
    ),
    MetricSpec(
        "hostvitals_cpu_info", _G, "", "CPU model of the host.", ("model_name", "vendor"), "info"
    ),
    MetricSpec(
        "hostvitals_virtualization_info", _G, "", "The hypervisor, if known.", ("type",), "info"
    ),
    MetricSpec("hostvitals_agent_build_info", _G, "", "The agent's version.", ("version",), "info"),
)
