"""The info series: os-release, cpuinfo, DMI and uname on literal contents, and the cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hostvitals.agent.samplers.info import (
    MAX_LABEL_LENGTH,
    InfoSampler,
    clean,
    parse_cpuinfo,
    parse_os_release,
    rows_from_cpuinfo,
    rows_from_os_release,
    rows_from_uname,
    rows_from_virtualization,
    virtualization_type,
)
from hostvitals.agent.samplers.paths import HostPaths

DEBIAN = """\
PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
"""

# Unquoted and single-quoted values, escapes, comments, blank and broken lines.
MIXED = """\
# os-release of a small distribution

ID=alpine
NAME='Alpine Linux'
VERSION_ID=3.20.3
PRETTY_NAME="Alpine \\"edge\\" \\$HOME \\\\ build"
not a key value line
=no key
"""


def test_os_release_with_quoted_values() -> None:
    info = parse_os_release(DEBIAN)
    assert info["PRETTY_NAME"] == "Debian GNU/Linux 12 (bookworm)"
    assert info["VERSION_CODENAME"] == "bookworm"
    assert rows_from_os_release(info) == [
        (
            "node_os_info",
            (
                ("id", "debian"),
                ("name", "Debian GNU/Linux"),
                ("version_id", "12"),
                ("pretty_name", "Debian GNU/Linux 12 (bookworm)"),
            ),
            1,
        )
    ]


def test_os_release_with_unquoted_single_quoted_and_escaped_values() -> None:
    info = parse_os_release(MIXED)
    assert info == {
        "ID": "alpine",
        "NAME": "Alpine Linux",
        "VERSION_ID": "3.20.3",
        "PRETTY_NAME": 'Alpine "edge" $HOME \\ build',
    }


def test_os_release_missing_keys_take_the_documented_defaults_or_stay_empty() -> None:
    [(_, os_labels, _)] = rows_from_os_release(parse_os_release("VERSION_ID=1.0\n"))
    assert dict(os_labels) == {
        "id": "linux",
        "name": "Linux",
        "version_id": "1.0",
        "pretty_name": "Linux",
    }
    [(_, os_labels, _)] = rows_from_os_release(parse_os_release("ID=arch\n"))
    assert dict(os_labels)["version_id"] == ""  # a rolling release has none


INTEL = """\
processor\t: 0
vendor_id\t: GenuineIntel
cpu family\t: 6
model name\t: Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz
flags\t\t: fpu vme

processor\t: 1
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz
"""
ARM64 = """\
processor\t: 0
BogoMIPS\t: 50.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32
CPU implementer\t: 0x41
CPU architecture: 8
CPU part\t: 0xd0c
"""


def test_cpuinfo_model_and_vendor_of_the_first_cpu() -> None:
    assert parse_cpuinfo(INTEL) == ("Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz", "GenuineIntel")
    assert rows_from_cpuinfo(parse_cpuinfo(INTEL)) == [
        (
            "hostvitals_cpu_info",
            (
                ("model_name", "Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz"),
                ("vendor", "GenuineIntel"),
            ),
            1,
        )
    ]


def test_cpuinfo_of_arm64_has_an_implementer_and_no_model_name() -> None:
    assert parse_cpuinfo(ARM64) == ("", "0x41")


def test_cpuinfo_that_says_neither_gives_no_series() -> None:
    assert parse_cpuinfo("processor\t: 0\nBogoMIPS\t: 50.00\n") is None
    assert rows_from_cpuinfo(None) == []


@pytest.mark.parametrize(
    ("dmi", "expected"),
    [
        ({"sys_vendor": "QEMU\n", "product_name": "Standard PC (Q35 + ICH9, 2009)\n"}, "qemu"),
        ({"sys_vendor": "Amazon EC2\n", "product_name": "m5.large\n"}, "amazon"),
        ({"sys_vendor": "VMware, Inc.\n", "product_name": "VMware Virtual Platform"}, "vmware"),
        ({"sys_vendor": "innotek GmbH", "product_name": "VirtualBox"}, "oracle"),
        ({"sys_vendor": "Google", "product_name": "Google Compute Engine"}, "google"),
        ({"sys_vendor": "Microsoft Corporation", "product_name": "Virtual Machine"}, "microsoft"),
        ({"sys_vendor": "Dell Inc.", "product_name": "PowerEdge R640"}, None),
        ({"sys_vendor": "Microsoft Corporation", "product_name": "Surface Pro"}, None),
        ({}, None),
    ],
)
def test_virtualization_from_dmi(dmi: dict[str, str], expected: str | None) -> None:
    assert virtualization_type(dmi, None) == expected


def test_virtualization_from_the_hypervisor_type_and_no_series_when_unknown() -> None:
    assert virtualization_type({}, "xen\n") == "xen"
    assert rows_from_virtualization("xen") == [
        ("hostvitals_virtualization_info", (("type", "xen"),), 1)
    ]
    assert rows_from_virtualization(None) == []


def test_uname_row() -> None:
    uname = os.uname_result(("Linux", "web-1", "6.1.0-18-amd64", "#1 SMP Debian", "x86_64"))
    assert rows_from_uname(uname) == [
        (
            "node_uname_info",
            (
                ("sysname", "Linux"),
                ("release", "6.1.0-18-amd64"),
                ("version", "#1 SMP Debian"),
                ("machine", "x86_64"),
                ("nodename", "web-1"),
            ),
            1,
        )
    ]


def test_label_values_lose_control_characters_and_are_bounded() -> None:
    assert clean(" a\tb\nc\x7f ") == "a b c"
    assert len(clean("x" * 1000)) == MAX_LABEL_LENGTH


def _root(tmp_path: Path, os_release: str) -> HostPaths:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "os-release").write_text(os_release)
    return HostPaths(procfs=tmp_path / "proc", sysfs=tmp_path / "sys", rootfs=tmp_path)


def test_labels_are_cached_and_read_again_after_the_refresh(tmp_path: Path) -> None:
    paths = _root(tmp_path, "ID=one\n")
    now = [1000.0]
    sampler = InfoSampler(paths, refresh_s=300, clock=lambda: now[0], agent_version=lambda: "9")

    def os_id() -> str:
        [labels] = [dict(lb) for metric, lb, _ in sampler.collect() if metric == "node_os_info"]
        return labels["id"]

    assert os_id() == "one"
    (tmp_path / "etc" / "os-release").write_text("ID=two\n")
    now[0] += 299
    assert os_id() == "one", "read again before the refresh interval"
    now[0] += 1
    assert os_id() == "two"


def test_without_etc_os_release_the_usr_lib_one_is_read(tmp_path: Path) -> None:
    (tmp_path / "usr" / "lib").mkdir(parents=True)
    (tmp_path / "usr" / "lib" / "os-release").write_text("ID=fallback\n")
    rows = InfoSampler(HostPaths(procfs=tmp_path, sysfs=tmp_path, rootfs=tmp_path)).collect()
    [os_labels] = [dict(labels) for metric, labels, _ in rows if metric == "node_os_info"]
    assert os_labels["id"] == "fallback"


def test_without_any_optional_file_uname_and_build_info_remain(tmp_path: Path) -> None:
    sampler = InfoSampler(
        HostPaths(procfs=tmp_path, sysfs=tmp_path, rootfs=tmp_path), agent_version=lambda: "1.2"
    )
    rows = sampler.collect()
    assert [metric for metric, _, _ in rows] == ["node_uname_info", "hostvitals_agent_build_info"]
    assert rows[-1] == ("hostvitals_agent_build_info", (("version", "1.2"),), 1)
    assert dict(rows[0][1])["release"] == os.uname().release
