"""A stand-in ``smartctl`` for tests: a real executable (a shell script) that answers from
files, named after the device it is asked about, so timeouts, exit statuses and a missing
binary are those of a real process. Answers come from ``tests/fixtures/smartctl``."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "smartctl"

SCRIPT = """#!/bin/sh
# smartctl stand-in: answers from the files in DATA, named after the device.
data='DATA'
for arg; do last=$arg; done
echo "$*" >> "$data/calls"
case "$1" in
  --scan-open) name=scan ;;
  *) name=${last##*/} ;;
esac
if [ -p "$data/$name.gate" ]; then cat "$data/$name.gate" > /dev/null; fi
if [ -f "$data/$name.sleep" ]; then exec sleep "$(cat "$data/$name.sleep")"; fi
cat "$data/$name.json"
if [ -f "$data/$name.status" ]; then exit "$(cat "$data/$name.status")"; fi
exit 0
"""


class FakeSmartctl:
    def __init__(self, root: Path) -> None:
        self.bin = root / "bin"
        self.data = root / "data"
        self.bin.mkdir()
        self.data.mkdir()
        script = self.bin / "smartctl"
        script.write_text(SCRIPT.replace("DATA", str(self.data)))
        script.chmod(script.stat().st_mode | stat.S_IXUSR)

    def answer(self, name: str, fixture: str | None = None, status: int = 0) -> None:
        """What ``smartctl ... /dev/<name>`` prints (``scan`` for the scan) and exits with."""
        shutil.copyfile(FIXTURES / (fixture or f"{name}.json"), self.data / f"{name}.json")
        (self.data / f"{name}.status").write_text(str(status))

    def print(self, name: str, text: str, status: int = 0) -> None:
        (self.data / f"{name}.json").write_text(text)
        (self.data / f"{name}.status").write_text(str(status))

    def hang(self, name: str, seconds: int) -> None:
        (self.data / f"{name}.sleep").write_text(str(seconds))

    def gate(self, name: str) -> Path:
        """A FIFO the answer for ``name`` waits on until the test writes to it."""
        path = self.data / f"{name}.gate"
        os.mkfifo(path)
        return path

    def search_path(self) -> str:
        """A PATH that finds this smartctl first, and the system's tools after it."""
        return f"{self.bin}{os.pathsep}{os.environ.get('PATH', '')}"

    def calls(self) -> list[str]:
        path = self.data / "calls"
        return path.read_text().splitlines() if path.exists() else []

    def a_host(self) -> None:
        """The scan's four disks: healthy ATA, asleep, failing, NVMe."""
        self.answer("scan")
        self.answer("sda")
        self.answer("sdb", status=3)
        self.answer("sdc", status=88)
        self.answer("nvme0")
