"""Property: whatever bytes arrive, the decoder, the validator and the HTTP ingest (with
auth on: agents' credentials) end in success or a 4xx, never a 500 and never an exception
that escapes."""

from __future__ import annotations

import time
from typing import Any

import msgpack
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hostvitals.collector.config.limits import LimitsSettings
from hostvitals.collector.errors import IngestRejected
from hostvitals.collector.ingest.pipeline import decode
from hostvitals.collector.ingest.validate import PolicyError, validate_frame
from hostvitals.shared.codec import encode_frame
from tests.support.access import bearer
from tests.support.collector_app import msgpack_headers, running
from tests.support.frames import catalogue_frame, ticks_ending_now

NOW_MS = int(time.time() * 1000)
GOOD_FRAME = catalogue_frame("fuzz-host", ticks_ending_now(3, end_ms=NOW_MS), metrics=None)
GOOD_AGENT = GOOD_FRAME.agent_id
GOOD = encode_frame(GOOD_FRAME)
# The good frame sent after the garbage: an agent of its own, because a mutated copy of GOOD
# that is still valid (say, with its series emptied) is GOOD's (agent, host, seq) and is
# rightly taken as that frame, making GOOD itself a duplicate.
LAST = encode_frame(
    catalogue_frame(
        "fuzz-host", ticks_ending_now(3, end_ms=NOW_MS), agent_id="fuzz-last", metrics=None
    )
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.binary(max_size=20),
)
documents = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.dictionaries(st.one_of(st.text(max_size=8), st.integers()), inner, max_size=5)
    ),
    max_leaves=30,
)
frame_keys = st.sampled_from(["v", "agent", "host", "seq", "sent", "interval", "ts", "series"])


def _pack(doc: Any) -> bytes:
    try:
        return bytes(msgpack.packb(doc, use_bin_type=True, strict_types=False))
    except (OverflowError, TypeError, ValueError):
        return b"\xc1"  # never-used msgpack byte: the decoder must refuse it


@st.composite
def mutated_frames(draw: st.DrawFn) -> bytes:
    """A real frame with a few fields replaced, removed or bytes flipped."""
    doc = msgpack.unpackb(GOOD, raw=False)
    for _ in range(draw(st.integers(1, 3))):
        key = draw(frame_keys)
        action = draw(st.sampled_from(["replace", "delete", "series"]))
        if action == "replace":
            doc[key] = draw(documents)
        elif action == "delete":
            doc.pop(key, None)
        elif isinstance(doc.get("series"), list) and doc["series"]:
            index = draw(st.integers(0, len(doc["series"]) - 1))
            doc["series"][index] = draw(documents)
    data = bytearray(_pack(doc))
    for _ in range(draw(st.integers(0, 2))):
        if data:
            at = draw(st.integers(0, len(data) - 1))
            data[at] = draw(st.integers(0, 255))
    return bytes(data)


inputs = st.one_of(st.binary(max_size=300), documents.map(_pack), mutated_frames())


@given(inputs)
@settings(max_examples=400, deadline=None)
def test_decoder_and_validator_refuse_cleanly(data: bytes) -> None:
    try:
        frame = decode(data)
    except IngestRejected as exc:
        assert 400 <= exc.status < 500
        return
    try:
        validate_frame(frame, LimitsSettings(), NOW_MS)
    except PolicyError as exc:
        assert exc.reason and exc.message


@given(st.lists(inputs, min_size=1, max_size=5))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
async def test_http_ingest_answers_2xx_or_4xx(bodies: list[bytes]) -> None:
    async with running() as (app, client, fake):
        # With auth on: each agent id of the host has its own credential.
        store = app.state.access_store
        garbage = bearer(store.add_agent("fuzz-host", GOOD_AGENT)[1])
        last = bearer(store.add_agent("fuzz-host", "fuzz-last")[1])
        for body in [*bodies, LAST]:
            auth = last if body is LAST else garbage
            answer = await client.post(
                "/api/v1/ingest", content=body, headers=msgpack_headers(**auth)
            )
            assert answer.status_code == 204 or 400 <= answer.status_code < 500, answer.text
            if answer.status_code != 204:
                assert answer.json()["error"]
        # A good frame after any amount of garbage is still written.
        assert fake.posts
