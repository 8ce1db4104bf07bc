"""What the host is: kernel, distribution, CPU model, virtualization and the agent's own
version, as ``*_info`` series whose value is 1 and whose labels say it.

- ``node_uname_info{sysname,release,version,machine,nodename}`` from ``uname(2)``;
- ``node_os_info{id,name,version_id,pretty_name}`` from ``<rootfs>/etc/os-release``, else
  ``<rootfs>/usr/lib/os-release``;
- ``hostvitals_cpu_info{model_name,vendor}`` from ``<procfs>/cpuinfo``: one series for the
  host (node_exporter's ``node_cpu_info`` has one per CPU, and ``count(node_cpu_info)`` is a
  CPU count there, so the name is not reused for a different shape);
- ``hostvitals_virtualization_info{type}`` from the DMI strings under
  ``<sysfs>/class/dmi/id`` or ``<sysfs>/hypervisor/type``, only when they name a hypervisor;
- ``hostvitals_agent_build_info{version}``.

Label values change rarely, so the files are read again at most every ``refresh_s`` seconds
(5 minutes); in between the same rows are sent.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Mapping
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from hostvitals.agent.samplers.base import Row, labels
from hostvitals.agent.samplers.paths import HostPaths

DEFAULT_REFRESH_S = 300.0
MAX_LABEL_LENGTH = 128
"""Longer label values (a kernel version string, a DMI string) are cut to this."""

OS_RELEASE_FILES = ("/etc/os-release", "/usr/lib/os-release")
OS_RELEASE_DEFAULTS: Mapping[str, str] = {"ID": "linux", "NAME": "Linux", "PRETTY_NAME": "Linux"}
"""The defaults os-release(5) gives keys a file leaves out; VERSION_ID has none."""

DMI_FIELDS = ("sys_vendor", "product_name", "board_vendor", "bios_vendor")

DMI_HYPERVISORS: tuple[tuple[str, str], ...] = (
    ("KVM", "kvm"),
    ("OpenStack", "kvm"),
    ("KubeVirt", "kvm"),
    ("Amazon EC2", "amazon"),
    ("QEMU", "qemu"),
    ("VMware", "vmware"),
    ("VMW", "vmware"),
    ("innotek GmbH", "oracle"),
    ("VirtualBox", "oracle"),
    ("Xen", "xen"),
    ("Bochs", "bochs"),
    ("Parallels", "parallels"),
    ("BHYVE", "bhyve"),
    ("Hyper-V", "microsoft"),
    ("Google Compute Engine", "google"),
    ("Apple Virtualization", "apple"),
)
"""Prefixes of a DMI string that name a hypervisor, and its name as systemd-detect-virt
says it. A physical machine matches none of them."""

_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]+")
_ESCAPED_RE = re.compile(r"\\(.)")


def clean(value: str) -> str:
    """A label value: control characters become spaces, trimmed, at most 128 characters."""
    return _CONTROL_RE.sub(" ", value).strip()[:MAX_LABEL_LENGTH]


def _unquote(value: str) -> str:
    """One os-release value, unquoted the way a shell would for the forms the format allows."""
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == "'":
        return value[1:-1]
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    return _ESCAPED_RE.sub(r"\1", value)


def parse_os_release(text: str) -> dict[str, str]:
    """``KEY=value`` lines of os-release(5); comments, blank and malformed lines are skipped."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if sep and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            out[key] = _unquote(value)
    return out


def rows_from_os_release(info: Mapping[str, str]) -> list[Row]:
    def get(key: str) -> str:
        return clean(info.get(key, OS_RELEASE_DEFAULTS.get(key, "")))

    os_labels = labels(
        id=get("ID"), name=get("NAME"), version_id=get("VERSION_ID"), pretty_name=get("PRETTY_NAME")
    )
    return [("node_os_info", os_labels, 1)]


def rows_from_uname(uname: Any) -> list[Row]:
    """The row for an ``os.uname()`` result."""
    uname_labels = labels(
        sysname=clean(uname.sysname),
        release=clean(uname.release),
        version=clean(uname.version),
        machine=clean(uname.machine),
        nodename=clean(uname.nodename),
    )
    return [("node_uname_info", uname_labels, 1)]


_MODEL_KEYS = ("model name", "Processor", "cpu model", "cpu")
_VENDOR_KEYS = ("vendor_id", "vendor", "CPU implementer")


def parse_cpuinfo(text: str) -> tuple[str, str] | None:
    """``(model_name, vendor)`` of the first CPU in ``/proc/cpuinfo``; None if neither is
    there. x86 says ``model name`` and ``vendor_id``; other architectures use other keys
    (arm64 ``CPU implementer``, older ARM ``Processor``, MIPS ``cpu model``, POWER ``cpu``).
    """
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        key = key.strip()
        if sep and key not in fields:
            fields[key] = value.strip()
    model = next((fields[k] for k in _MODEL_KEYS if fields.get(k)), "")
    vendor = next((fields[k] for k in _VENDOR_KEYS if fields.get(k)), "")
    if not model and not vendor:
        return None
    return clean(model), clean(vendor)


def rows_from_cpuinfo(cpu: tuple[str, str] | None) -> list[Row]:
    if cpu is None:
        return []
    model, vendor = cpu
    return [("hostvitals_cpu_info", labels(model_name=model, vendor=vendor), 1)]


def virtualization_type(dmi: Mapping[str, str], hypervisor_type: str | None) -> str | None:
    """The hypervisor the DMI strings or ``/sys/hypervisor/type`` name; None when they name
    none (a physical machine, or a VM that does not say)."""
    for field in DMI_FIELDS:
        value = dmi.get(field, "").strip()
        for prefix, name in DMI_HYPERVISORS:
            if value.startswith(prefix):
                return name
    if dmi.get("sys_vendor", "").startswith("Microsoft Corporation") and dmi.get(
        "product_name", ""
    ).startswith("Virtual Machine"):
        return "microsoft"
    if hypervisor_type and hypervisor_type.strip():
        return clean(hypervisor_type)
    return None


def rows_from_virtualization(kind: str | None) -> list[Row]:
    return [] if kind is None else [("hostvitals_virtualization_info", labels(type=kind), 1)]


def agent_version() -> str:
    try:
        return version("hostvitals")
    except PackageNotFoundError:
        return "0+unknown"


def _read(path: Path) -> str | None:
    """The text of a file; None when it is missing or unreadable (these are all optional)."""
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


class InfoSampler:
    name = "info"

    def __init__(
        self,
        paths: HostPaths | None = None,
        *,
        refresh_s: float = DEFAULT_REFRESH_S,
        clock: Callable[[], float] = time.monotonic,
        uname: Callable[[], Any] = os.uname,
        agent_version: Callable[[], str] = agent_version,
    ) -> None:
        self._paths = paths or HostPaths()
        self._refresh_s = refresh_s
        self._clock = clock
        self._uname = uname
        self._version = agent_version
        self._rows: list[Row] = []
        self._read_at: float | None = None

    def collect(self) -> list[Row]:
        now = self._clock()
        if self._read_at is None or now - self._read_at >= self._refresh_s:
            self._rows = self.read()
            self._read_at = now
        return list(self._rows)

    def read(self) -> list[Row]:
        """Every info row, read now."""
        rows = rows_from_uname(self._uname())
        for name in OS_RELEASE_FILES:
            text = _read(self._paths.root_file(name))
            if text is not None:
                rows.extend(rows_from_os_release(parse_os_release(text)))
                break
        cpuinfo = _read(self._paths.proc("cpuinfo"))
        if cpuinfo is not None:
            rows.extend(rows_from_cpuinfo(parse_cpuinfo(cpuinfo)))
        dmi_dir = self._paths.sys("class", "dmi", "id")
        dmi = {f: text for f in DMI_FIELDS if (text := _read(dmi_dir / f)) is not None}
        hypervisor = _read(self._paths.sys("hypervisor", "type"))
        rows.extend(rows_from_virtualization(virtualization_type(dmi, hypervisor)))
        rows.append(("hostvitals_agent_build_info", labels(version=clean(self._version())), 1))
        return rows
