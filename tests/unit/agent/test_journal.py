"""The journal of the open frame: ticks survive a crash and come back under the same seq."""

from __future__ import annotations

from pathlib import Path

from hostvitals.agent.journal import Journal, decode_tick, encode_tick
from hostvitals.agent.spool import FsyncPolicy
from hostvitals.agent.spool.format import HEADER_SIZE

AGENT = "3f0c6a52-7f43-4d8e-9a53-3c8d0c2f5b11"
LOAD = ("node_load1", (), 0.5)
ETH0 = ("node_network_receive_bytes_total", (("device", "eth0"),), 10)


def journal(path: Path) -> Journal:
    return Journal(path, FsyncPolicy.NEVER, 1.0)


def test_a_tick_round_trips() -> None:
    data = encode_tick(7, "web-1", 1.0, 1000, [LOAD, ETH0])
    assert decode_tick(data) == (7, "web-1", 1.0, 1000, [LOAD, ETH0])


def test_ticks_not_released_are_rebuilt_into_frames_with_their_own_seq(tmp_path: Path) -> None:
    first = journal(tmp_path)
    first.record(4, "web-1", 1.0, 1000, [LOAD])
    first.record(4, "web-1", 1.0, 2000, [LOAD, ETH0])
    first.record(5, "web-1", 1.0, 3000, [LOAD])
    first.close()  # as if killed: nothing was released

    again = journal(tmp_path)
    frames = again.replay(AGENT)
    assert [(f.seq, f.timestamps_ms) for f in frames] == [(4, [1000, 2000]), (5, [3000])]
    assert frames[0].agent_id == AGENT and frames[0].host == "web-1"
    assert frames[0].sample_count() == 3
    again.close()
    assert journal(tmp_path).replay(AGENT) == []  # replayed once, then gone


def test_release_keeps_only_the_open_frame(tmp_path: Path) -> None:
    j = journal(tmp_path)
    j.record(1, "h", 1.0, 1000, [LOAD])
    j.record(1, "h", 1.0, 2000, [LOAD])
    j.record(2, "h", 1.0, 3000, [LOAD])
    j.release(2)  # frame 1 is in the spool now
    j.close()
    frames = journal(tmp_path).replay(AGENT)
    assert [(f.seq, f.timestamps_ms) for f in frames] == [(2, [3000])]


def test_release_without_an_open_frame_empties_it(tmp_path: Path) -> None:
    j = journal(tmp_path)
    j.record(1, "h", 1.0, 1000, [LOAD])
    j.release(None)
    j.close()
    assert journal(tmp_path).replay(AGENT) == []


def test_a_damaged_tick_is_skipped_and_counted(tmp_path: Path) -> None:
    j = journal(tmp_path)
    for ts in (1000, 2000, 3000):
        j.record(9, "h", 1.0, ts, [LOAD])
    j.close()
    (segment,) = tmp_path.glob("*.seg")
    data = bytearray(segment.read_bytes())
    size = len(encode_tick(9, "h", 1.0, 1000, [LOAD])) + HEADER_SIZE
    data[size + HEADER_SIZE + 3] ^= 0x40  # the second tick's payload
    segment.write_bytes(bytes(data))
    again = journal(tmp_path)
    (frame,) = again.replay(AGENT)
    assert frame.timestamps_ms == [1000, 3000]
    assert again.corrupt_records() == 1
