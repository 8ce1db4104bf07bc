"""The audit log's files and their hash chain: how a record is hashed, how segments are named
and read, and the check that finds an edited, removed, reordered or inserted record.

A record is one JSON object per line. Its ``hash`` is the SHA-256 of the previous record's
hash followed by the record's canonical JSON without ``hash`` (sorted keys, no spaces); its
``prev`` is the previous record's hash and its ``seq`` one more than the previous record's.
The first record ever has ``seq`` 1 and ``prev`` :data:`GENESIS`.

Segments are ``audit-<first seq>.jsonl``; the first record of a segment carries the last
hash of the segment before it, so the chain runs across segments. When retention drops the
oldest segments, ``anchor.json`` keeps the seq and hash of the last dropped record (where
the chain now starts), and a ``audit.retention`` record in the chain states the same anchor:
an anchor moved by hand no longer matches it.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import orjson

GENESIS: Final = "0" * 64
ANCHOR_FILE: Final = "anchor.json"
LOCK_FILE: Final = "audit.lock"
RETENTION_ACTION: Final = "audit.retention"
_SEGMENT: Final = re.compile(r"^audit-(\d{12})\.jsonl$")


def segment_name(first_seq: int) -> str:
    return f"audit-{first_seq:012d}.jsonl"


def canonical(record: dict[str, Any]) -> bytes:
    body = {k: v for k, v in record.items() if k != "hash"}
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


def chain_hash(prev: str, record: dict[str, Any]) -> str:
    return hashlib.sha256(prev.encode() + canonical(record)).hexdigest()


def segments(directory: Path) -> list[tuple[int, Path]]:
    """The segment files, oldest first, by the first seq in their name."""
    found = []
    for entry in os.scandir(directory):
        matched = _SEGMENT.match(entry.name)
        if matched and entry.is_file():
            found.append((int(matched.group(1)), Path(entry.path)))
    return sorted(found)


@dataclass(frozen=True, slots=True)
class Anchor:
    """Where the kept chain starts: the seq and hash of the record just before it."""

    seq: int = 0
    hash: str = GENESIS


def read_anchor(directory: Path) -> Anchor:
    path = directory / ANCHOR_FILE
    try:
        doc = orjson.loads(path.read_bytes())
        return Anchor(int(doc["seq"]), str(doc["hash"]))
    except FileNotFoundError:
        return Anchor()


def write_anchor(directory: Path, anchor: Anchor) -> None:
    tmp = directory / (ANCHOR_FILE + ".tmp")
    with open(tmp, "wb") as out:
        out.write(orjson.dumps({"seq": anchor.seq, "hash": anchor.hash}))
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, directory / ANCHOR_FILE)


def last_line(path: Path) -> bytes | None:
    """The last complete line of a file (records are small: the last 64 KiB hold it)."""
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(max(0, size - 65536))
        tail = f.read()
    lines = [line for line in tail.split(b"\n") if line]
    if not tail.endswith(b"\n") and lines:
        lines.pop()  # a torn last line: not a record
    return lines[-1] if lines else None


def drop_torn_tail(path: Path) -> bool:
    """Cut a last line a crash left unfinished; True when something was cut."""
    with open(path, "rb+") as f:
        data = f.read()
        if not data or data.endswith(b"\n"):
            return False
        f.truncate(data.rfind(b"\n") + 1)
        f.flush()
        os.fsync(f.fileno())
    return True


def read_records(directory: Path) -> Iterator[tuple[Path, int, bytes]]:
    """Every line of every segment, oldest first, with its file and line number."""
    for _first, path in segments(directory):
        with open(path, "rb") as f:
            for number, line in enumerate(f, start=1):
                yield path, number, line


@dataclass(slots=True)
class ChainStatus:
    """What :func:`verify` found. ``ok`` is False from the first broken link on."""

    ok: bool = True
    records: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    last_hash: str = GENESIS
    problems: list[str] = field(default_factory=list)

    def public(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "records": self.records,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "problems": self.problems[:20],
        }


def verify(directory: Path) -> ChainStatus:
    """Walk the whole chain from the anchor and report every link that does not hold."""
    status = ChainStatus()
    anchor = read_anchor(directory)
    prev_seq, prev_hash = anchor.seq, anchor.hash
    retention_anchor: Anchor | None = None

    def problem(text: str) -> None:
        status.ok = False
        status.problems.append(text)

    for path, number, line in read_records(directory):
        where = f"{path.name}:{number}"
        try:
            record = orjson.loads(line)
            seq, prev, digest = int(record["seq"]), str(record["prev"]), str(record["hash"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            problem(f"{where}: not a record")
            continue
        if seq != prev_seq + 1:
            problem(f"{where}: seq {seq} follows {prev_seq} (a record is missing or moved)")
        if prev != prev_hash:
            problem(f"{where}: seq {seq} does not link to the record before it")
        if chain_hash(prev, record) != digest:
            problem(f"{where}: seq {seq} was changed after it was written")
        if record.get("action") == RETENTION_ACTION:
            detail = record.get("detail") or {}
            retention_anchor = Anchor(int(detail.get("anchor_seq", 0)), str(detail.get("anchor")))
        status.records += 1
        status.first_seq = seq if status.first_seq is None else status.first_seq
        status.last_seq = seq
        prev_seq, prev_hash = seq, digest
    if anchor != Anchor() and retention_anchor != anchor:
        problem("anchor.json does not match the chain's last retention record")
    status.last_hash = prev_hash
    return status
