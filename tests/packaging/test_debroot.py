"""The long packaging test (``make test-packaging``): both packages in a throwaway Debian root.

In a copy of a debootstrapped bookworm (cached under ``var/packaging/``), in a network
namespace of its own: install both packages; run ``hostvitals-agent --once`` and the
collector's ``--help``; start the tiers, the collector and the agent the way the units would
(there is no systemd), enroll the agent with an enrollment token and wait for its host to
report (the time from nothing to a reporting agent); stop the collector so frames pile up in
the spool, stop the agent, upgrade both packages and check that the agent id, the sequence
numbers, the spooled frames, the local configuration, the collector's ledger and
credentials are intact; start them again and check that the spooled frames arrive; purge,
and check that nothing of either package is left.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.debs import REPO, build, with_version

pytestmark = [
    pytest.mark.skipif(
        os.environ.get("HOSTVITALS_PACKAGING_LONG") != "1",
        reason="the long packaging test: run it with `make test-packaging`",
    ),
    pytest.mark.timeout(2400),
]
ARTIFACTS = REPO / "test-artifacts"
V1, V2 = "0.1.0-1", "0.1.0-2"
AGENT_STATE = "/var/lib/hostvitals-agent"
COLLECTOR = "http://127.0.0.1:8000"
TIERS = ("raw", "1m", "5m", "1h")


class DebRoot:
    """A Debian root run with chroot, /proc and /sys mounted, in network namespace ``netns``."""

    def __init__(self, root: Path, netns: str) -> None:
        self.root = root
        self.netns = netns
        self.pids: dict[str, int] = {}

    def sh(self, script: str, *, timeout: float = 300, check: bool = True) -> str:
        wrapper = (
            'mount -t proc proc "$1/proc" && mount -t sysfs sysfs "$1/sys" && '
            'exec chroot "$1" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin '
            'DEBIAN_FRONTEND=noninteractive /bin/sh -c "$2"'
        )
        command = ["ip", "netns", "exec", self.netns, "unshare", "-m", "sh", "-c", wrapper]
        result = subprocess.run(
            [*command, "sh", str(self.root), "set -e\n" + script],
            capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
        if check:
            assert result.returncode == 0, f"{script}\n{result.stdout}\n{result.stderr}"
        return result.stdout

    def start(self, name: str, command: str) -> None:
        """Run ``command`` in the background, its output in /var/log/NAME.log."""
        out = self.sh(f"setsid {command} >/var/log/{name}.log 2>&1 </dev/null & echo $!")
        self.pids[name] = int(out.split()[-1])

    def stop(self, name: str, timeout: float = 30) -> None:
        pid = self.pids.pop(name)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        if Path(f"/proc/{pid}").exists():
            os.kill(pid, signal.SIGKILL)

    def log(self, name: str) -> str:
        path = self.root / "var" / "log" / f"{name}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def get(self, url: str, token: str | None = None) -> tuple[int, str]:
        """An HTTP GET from inside the root, with its python3."""
        code = (
            "import sys, urllib.request, urllib.error\n"
            "r = urllib.request.Request(sys.argv[1])\n"
            "if len(sys.argv) > 2: r.add_header('Authorization', 'Bearer ' + sys.argv[2])\n"
            "try:\n"
            "    a = urllib.request.urlopen(r, timeout=5)\n"
            "    print(a.status); print(a.read().decode())\n"
            "except urllib.error.HTTPError as e: print(e.code); print(e.read().decode())\n"
            "except OSError as e: print(0); print(e)\n"
        )
        args = f"'{url}'" + (f" '{token}'" if token else "")
        out = self.sh(f'python3 -c "{code}" {args}')
        status, _, body = out.partition("\n")
        return int(status), body

    def wait(self, what: str, check: Any, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            time.sleep(0.5)
        logs = "\n".join(f"--- {name}\n{self.log(name)}" for name in ("collector", "agent"))
        raise AssertionError(f"timed out waiting for {what}\n{logs}")

    def tree(self) -> dict[str, str]:
        """Every path under the root with its type and owner (not what changes by itself)."""
        skip = ("proc/", "sys/", "dev/", "tmp/", "run/", "var/log/", "var/cache/",
                "var/lib/dpkg/", "var/lib/apt/", "root/")  # fmt: skip
        found: dict[str, str] = {}
        for path in self.root.rglob("*"):
            rel = str(path.relative_to(self.root))
            if rel.startswith(skip) or rel.endswith("-"):  # /etc/passwd- and the like
                continue
            st = path.lstat()
            found[rel] = f"{st.st_mode:o}:{st.st_uid}:{st.st_gid}"
        return found


@pytest.fixture
def debroot(tmp_path: Path) -> Iterator[DebRoot]:
    if os.geteuid() != 0:
        pytest.fail("the long packaging test needs root (chroot, mount, ip netns)")
    for tool in ("debootstrap", "ip", "unshare", "lintian"):
        assert shutil.which(tool), f"{tool} is missing: `make deps` installs it"
    root = tmp_path / "root"
    subprocess.run([str(REPO / "packaging" / "debroot.sh"), str(root)], check=True, timeout=1800)
    netns = f"hvpkg{os.getpid()}"
    subprocess.run(["ip", "netns", "add", netns], check=True)
    subprocess.run(["ip", "netns", "exec", netns, "ip", "link", "set", "lo", "up"], check=True)
    box = DebRoot(root, netns)
    try:
        yield box
    finally:
        for name in list(box.pids):
            box.stop(name, timeout=10)
        subprocess.run(["ip", "netns", "del", netns], check=False)
        shutil.rmtree(root, ignore_errors=True)


def digest_tree(directory: Path) -> dict[str, str]:
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file() and p.name != "lock"
    }


def pending_frames(box: DebRoot) -> int:
    out = box.sh(
        "/opt/hostvitals/agent/bin/python3 -c 'from pathlib import Path; "
        "from hostvitals.agent.spool import Spool\n"
        f'with Spool(Path("{AGENT_STATE}/spool")) as s: print(s.stats().pending_records)\''
    )
    return int(out.split()[-1])


def ledger_rows(box: DebRoot) -> int:
    out = box.sh(
        "/opt/hostvitals/collector/bin/python3 -c 'import sqlite3; c = sqlite3.connect("
        '"/var/lib/hostvitals-collector/collector.sqlite3"); '
        'print(c.execute("SELECT count(*) FROM written_frames").fetchone()[0])\''
    )
    return int(out.split()[-1])


def start_services(box: DebRoot) -> None:
    """What the units start, without systemd: the tiers, then the collector as its user."""
    for tier in TIERS:
        box.start(
            f"vm-{tier}",
            f"sh -c '. /etc/hostvitals/vm-{tier}.env && exec victoria-metrics "
            f"-storageDataPath=/var/lib/hostvitals-vm/{tier} -httpListenAddr=127.0.0.1:$VM_PORT "
            "-retentionPeriod=$VM_RETENTION -dedup.minScrapeInterval=$VM_DEDUP'",
        )
    box.start(
        "collector",
        "runuser -u hostvitals -- env HOSTVITALS__STATE__DIR=/var/lib/hostvitals-collector "
        "hostvitals-collector serve --config /etc/hostvitals/collector.yaml",
    )
    box.wait("the collector", lambda: box.get(f"{COLLECTOR}/api/v1/health")[0] == 200)


def start_agent(box: DebRoot) -> None:
    box.start(
        "agent", "runuser -u hostvitals -- hostvitals-agent --config /etc/hostvitals/agent.toml"
    )


def export_points(box: DebRoot, start: float, end: float) -> int:
    status, body = box.get(
        f"http://127.0.0.1:8432/api/v1/export?match[]=node_load1&start={start:.0f}&end={end:.0f}"
    )
    assert status == 200, body
    return sum(len(json.loads(line)["values"]) for line in body.splitlines() if line.strip())


def test_install_enroll_upgrade_with_a_full_spool_and_purge(
    debroot: DebRoot, tmp_path: Path
) -> None:
    box = debroot
    timings: dict[str, Any] = {}
    began = time.monotonic()
    prebuilt = os.environ.get("HOSTVITALS_PACKAGING_DEBS")  # a dist/ of `make deb`
    if prebuilt:
        agent_deb = next(Path(prebuilt).glob(f"hostvitals-agent_{V1}_*.deb"))
        collector_deb = next(Path(prebuilt).glob(f"hostvitals-collector_{V1}_*.deb"))
    else:
        agent_deb, collector_deb = build(tmp_path, "agent collector")
    timings["build_s"] = round(time.monotonic() - began, 1)
    lint = subprocess.run(
        ["lintian", "--fail-on", "error", str(collector_deb)], capture_output=True, text=True
    )
    assert lint.returncode == 0, lint.stdout
    debs = box.root / "tmp" / "debs"
    debs.mkdir(parents=True)
    for deb in (agent_deb, collector_deb):
        shutil.copy(deb, debs)
        shutil.copy(with_version(deb, V2, tmp_path), debs)
    timings["sizes"] = {deb.name: deb.stat().st_size for deb in (agent_deb, collector_deb)}
    pristine = box.tree()

    # -- from nothing to a reporting agent ----------------------------------------------------
    began = time.monotonic()
    installed = box.sh(
        f"dpkg -i /tmp/debs/hostvitals-agent_{V1}_*.deb /tmp/debs/hostvitals-collector_{V1}_*.deb"
    )
    timings["install_s"] = round(time.monotonic() - began, 1)
    assert "not enrolled" in installed and "hostvitals-agent enroll" in installed
    box.sh("hostvitals-collector --help >/dev/null")
    once = box.sh("runuser -u hostvitals -- hostvitals-agent --once")
    once = json.loads(once)
    assert once["series"]
    start_services(box)
    token = box.sh("hostvitals-collector enrollment create --name test").strip()
    viewer = box.sh("hostvitals-collector tokens add --name test --role viewer").strip()
    enroll_began = time.monotonic()
    enrolled = box.sh(f"hostvitals-agent enroll --collector {COLLECTOR} --token {token}")
    assert "enrolled host" in enrolled and "systemd is not running" in enrolled, enrolled
    # A local edit: frames every second, also during an outage. It must survive the upgrade.
    box.sh(
        "sed -i -e 's/^flush_interval = .*/flush_interval = 1/' "
        "-e 's/^outage_flush_interval = .*/outage_flush_interval = 1/' /etc/hostvitals/agent.toml"
    )
    edited = (box.root / "etc/hostvitals/agent.toml").read_text()
    assert "\nflush_interval = 1\n" in edited and "\noutage_flush_interval = 1\n" in edited
    start_agent(box)
    box.wait(
        "the host to report", lambda: '"host"' in box.get(f"{COLLECTOR}/api/v1/hosts", viewer)[1]
    )
    timings["nothing_to_reporting_s"] = round(time.monotonic() - began, 1)
    timings["enroll_to_reporting_s"] = round(time.monotonic() - enroll_began, 1)
    again = box.sh(f"hostvitals-agent enroll --collector {COLLECTOR} --token {token} --no-start")
    assert "nothing to change" in again

    # -- an outage: frames pile up in the spool; then the upgrade ---------------------------
    box.stop("collector")
    outage_began = time.time()
    time.sleep(12)
    box.stop("agent")
    outage_ended = time.time()
    state = box.root / AGENT_STATE.lstrip("/")
    before = digest_tree(state)
    spooled = pending_frames(box)
    assert spooled >= 8, spooled
    rows = ledger_rows(box)
    assert rows > 0
    config_before = (box.root / "etc/hostvitals/agent.toml").read_text()

    upgraded = box.sh(
        f"dpkg -i --force-confold /tmp/debs/hostvitals-agent_{V2}_*.deb "
        f"/tmp/debs/hostvitals-collector_{V2}_*.deb"
    )
    assert "Preparing to unpack" in upgraded
    versions = box.sh("dpkg-query -W -f '${Package} ${Version}\\n' 'hostvitals-*'")
    assert f"hostvitals-agent {V2}" in versions and f"hostvitals-collector {V2}" in versions
    assert digest_tree(state) == before  # agent id, sequence numbers, spool, journal
    assert {"agent_id", "seq"} <= set(before)
    assert pending_frames(box) == spooled
    assert (box.root / "etc/hostvitals/agent.toml").read_text() == config_before
    assert ledger_rows(box) == rows  # the collector's ledger, and so its de-duplication
    assert "test" in box.sh("hostvitals-collector enrollment list")

    # -- the new version sends what the old one spooled --------------------------------------
    start_services(box)
    start_agent(box)
    box.wait("the spool to drain", lambda: ledger_rows(box) >= rows + spooled, timeout=180)
    # VictoriaMetrics makes rows visible within about a second of accepting them.
    box.wait(
        "the outage's samples in VictoriaMetrics",
        lambda: export_points(box, outage_began + 2, outage_ended - 2) >= 5,
        timeout=60,
    )

    # -- purge: nothing is left ---------------------------------------------------------------
    for name in list(box.pids):
        box.stop(name)
    box.sh("dpkg --purge hostvitals-agent hostvitals-collector")
    assert "hostvitals" not in box.sh("dpkg -l; getent passwd; getent group")
    left = {path: mode for path, mode in box.tree().items() if pristine.get(path) != mode}
    assert left == {}, sorted(left)[:40]

    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "packaging.json").write_text(json.dumps(timings, indent=2) + "\n")
    print(json.dumps(timings))
