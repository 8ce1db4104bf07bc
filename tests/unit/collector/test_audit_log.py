"""The audit log: records carry who, when, what and where from; the hash chain finds an
edited, removed, reordered or inserted record, across segments and retention drops."""

from __future__ import annotations

import itertools
import multiprocessing
import os
from pathlib import Path

import orjson
import pytest

from hostvitals.collector.access import auditchain
from hostvitals.collector.access.audit import Action, Actor, AuditLog, Result
from hostvitals.collector.access.roles import Principal, Role

ADMIN = Principal("token", Role.ADMIN, "abc123abc123", "ops")


def _log(directory: Path, **kwargs: object) -> AuditLog:
    return AuditLog(directory, fsync=False, **kwargs)  # type: ignore[arg-type]


def _fill(log: AuditLog, n: int) -> None:
    for i in range(n):
        log.record(
            Action.TOKEN_ADD,
            principal=ADMIN,
            target=f"token-{i}",
            result=Result.OK,
            source="192.0.2.1",
            request_id=f"req-{i}",
            detail={"role": "viewer"},
        )


def _lines(directory: Path) -> list[tuple[Path, list[bytes]]]:
    found = auditchain.segments(directory)
    return [(p, p.read_bytes().splitlines(keepends=True)) for _f, p in found]


def test_a_record_says_who_when_what_and_where_from(tmp_path: Path) -> None:
    log = _log(tmp_path)
    record = log.record(
        Action.SILENCE_CREATE,
        principal=ADMIN,
        target="silence-1",
        result=Result.OK,
        source="192.0.2.1",
        request_id="r-1",
        detail={"matchers": ["host=a"]},
    )
    assert record["seq"] == 1 and record["prev"] == auditchain.GENESIS
    stored = orjson.loads((tmp_path / auditchain.segment_name(1)).read_bytes())
    assert stored == record
    assert {k: stored[k] for k in ("action", "subject", "role", "credential_id", "target")} == {
        "action": "silence.create",
        "subject": "token:ops",
        "role": "admin",
        "credential_id": "abc123abc123",
        "target": "silence-1",
    }
    assert stored["result"] == "ok" and stored["source"] == "192.0.2.1"
    assert stored["request_id"] == "r-1" and stored["ts"] > 0 and stored["time"].endswith("Z")
    assert log.verify().ok


def test_reads_filter_newest_first(tmp_path: Path) -> None:
    log = _log(tmp_path)
    _fill(log, 5)
    log.record(Action.AGENT_ADD, principal=Actor.cli(), target="a", result="ok", source=None,
               request_id=None)  # fmt: skip
    assert [r["target"] for r in log.read(limit=2)] == ["a", "token-4"]
    assert [r["action"] for r in log.read(action="agent.add")] == ["agent.add"]
    assert log.read(subject="token:ops", limit=100)[-1]["target"] == "token-0"
    assert log.read(subject=log.read(limit=1)[0]["subject"])[0]["subject"].startswith("cli:")
    assert log.read(since=log.read()[0]["ts"] + 1) == []


def _tamper_edit(directory: Path) -> None:
    path, lines = _lines(directory)[0]
    record = orjson.loads(lines[2])
    record["target"] = "someone-else"
    lines[2] = orjson.dumps(record) + b"\n"
    path.write_bytes(b"".join(lines))


def _tamper_remove(directory: Path) -> None:
    path, lines = _lines(directory)[0]
    del lines[3]
    path.write_bytes(b"".join(lines))


def _tamper_reorder(directory: Path) -> None:
    path, lines = _lines(directory)[0]
    lines[2], lines[3] = lines[3], lines[2]
    path.write_bytes(b"".join(lines))


def _tamper_rehash_one(directory: Path) -> None:
    """Edit a record and fix its own hash: the next record no longer links to it."""
    path, lines = _lines(directory)[0]
    record = orjson.loads(lines[2])
    record["result"] = "denied"
    record["hash"] = auditchain.chain_hash(record["prev"], record)
    lines[2] = orjson.dumps(record) + b"\n"
    path.write_bytes(b"".join(lines))


def _tamper_drop_first_segment(directory: Path) -> None:
    _lines(directory)[0][0].unlink()


def _tamper_garbage(directory: Path) -> None:
    path, lines = _lines(directory)[0]
    lines.insert(1, b'{"not": "a record"}\n')
    path.write_bytes(b"".join(lines))


@pytest.mark.parametrize(
    "tamper",
    [_tamper_edit, _tamper_remove, _tamper_reorder, _tamper_rehash_one,
     _tamper_drop_first_segment, _tamper_garbage],
)  # fmt: skip
def test_tampering_is_found(tmp_path: Path, tamper: object) -> None:
    log = _log(tmp_path, segment_max_bytes=4096)
    _fill(log, 30)
    assert len(auditchain.segments(tmp_path)) > 1
    assert log.verify().ok
    tamper(tmp_path)  # type: ignore[operator]
    status = log.verify()
    assert not status.ok and status.problems, status


def test_segments_chain_into_each_other(tmp_path: Path) -> None:
    log = _log(tmp_path, segment_max_bytes=4096)
    _fill(log, 30)
    found = _lines(tmp_path)
    assert len(found) >= 3
    for (_p, before), (_q, after) in itertools.pairwise(found):
        assert orjson.loads(after[0])["prev"] == orjson.loads(before[-1])["hash"]
    status = log.verify()
    assert status.ok and status.records == 30 and status.last_seq == 30


def test_retention_drops_old_segments_and_says_so(tmp_path: Path) -> None:
    log = _log(tmp_path, segment_max_bytes=4096, max_segments=2)
    _fill(log, 60)
    assert len(auditchain.segments(tmp_path)) <= 2
    status = log.verify()
    assert status.ok, status.problems
    assert status.first_seq is not None and status.first_seq > 1
    drops = log.read(action="audit.retention")
    assert drops and drops[0]["detail"]["anchor_seq"] == status.first_seq - 1
    # Moving the anchor by hand to hide the removal of one more segment is found.
    _tamper_drop_first_segment(tmp_path)
    first = orjson.loads(_lines(tmp_path)[0][1][0])
    auditchain.write_anchor(tmp_path, auditchain.Anchor(first["seq"] - 1, first["prev"]))
    assert not log.verify().ok


def test_retention_by_age(tmp_path: Path) -> None:
    now = [1_000_000.0]
    log = _log(tmp_path, segment_max_age_s=10, retention_s=100, clock=lambda: now[0])
    _fill(log, 3)
    old = auditchain.segments(tmp_path)[0][1]
    now[0] += 50
    _fill(log, 1)  # a new segment: the first is 50 s old
    assert len(auditchain.segments(tmp_path)) == 2
    os.utime(old, (now[0] - 200, now[0] - 200))
    _fill(log, 1)
    assert old not in [p for _f, p in auditchain.segments(tmp_path)]
    assert log.verify().ok


def test_a_torn_last_line_is_cut_on_open(tmp_path: Path) -> None:
    _fill(_log(tmp_path), 3)
    path = auditchain.segments(tmp_path)[0][1]
    with open(path, "ab") as f:
        f.write(b'{"seq": 4, "tr')
    log = _log(tmp_path)
    _fill(log, 1)
    status = log.verify()
    assert status.ok and status.last_seq == 4


def _write_many(directory: str, n: int) -> None:
    _fill(AuditLog(Path(directory), fsync=False), n)


def test_processes_writing_at_once_keep_one_chain(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_write_many, args=(str(tmp_path), 25)) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    status = _log(tmp_path).verify()
    assert status.ok and status.records == 75, status.problems


def test_details_are_bounded(tmp_path: Path) -> None:
    log = _log(tmp_path)
    record = log.record("x", principal=ADMIN, target="t" * 1000, result="ok", source=None,
                        request_id=None, detail={"big": "y" * 10_000})  # fmt: skip
    assert len(record["target"]) == 256
    assert len(orjson.dumps(record["detail"])) < 2200


def test_the_login_api(tmp_path: Path) -> None:
    log = _log(tmp_path)
    scope = {"client": ("192.0.2.9", 5555), "hostvitals.request_id": "r-9"}
    alice = Principal("token", Role.OPERATOR, "feedfeedfeed", "alice")
    log.login_succeeded(scope, alice)
    log.login_failed(scope, "mallory", "bad_password")
    failed, ok = log.read()
    assert (ok["action"], ok["subject"], ok["role"], ok["result"]) == (
        "login.success", "token:alice", "operator", "ok"
    )  # fmt: skip
    assert (failed["action"], failed["subject"], failed["target"], failed["result"]) == (
        "login.failure", "claimed:mallory", "mallory", "denied"
    )  # fmt: skip
    assert failed["source"] == "192.0.2.9" and failed["request_id"] == "r-9"
    assert failed["detail"] == {"reason": "bad_password"}
    assert log.verify().ok
