"""Native messaging frames: whole messages round-trip; nothing a sender does crashes or hangs the reader."""

from __future__ import annotations

import io
import json
import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from native_host.framing import HEADER, MAX_REPLY, FrameError, encode_frame, read_frame

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**53, 2**53) | st.text(max_size=50),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=20,
)


def read_all(data: bytes, limit: int = 2**20) -> list:
    """Every outcome reading `data` yields, to its end: messages and FrameErrors."""
    stream, out = io.BytesIO(data), []
    for _ in range(len(data) + 2):  # each read consumes at least one byte or ends
        try:
            message = read_frame(stream, limit)
        except FrameError as exc:
            out.append(exc)
            continue
        if message is None:
            return out
        out.append(message)
    raise AssertionError("the reader did not reach the end")


@given(st.lists(st.dictionaries(st.text(max_size=10), json_values, max_size=5), max_size=5))
def test_messages_round_trip_in_order(messages):
    assert read_all(b"".join(encode_frame(m) for m in messages)) == messages


@given(st.binary(max_size=300))
@settings(max_examples=300)
def test_garbage_never_crashes_or_hangs(data):
    for outcome in read_all(data):
        assert isinstance(outcome, (dict, FrameError))


@given(st.dictionaries(st.text(max_size=10), json_values, min_size=1, max_size=5), st.integers(1, 40))
def test_a_truncated_frame_is_a_clean_end(message, cut):
    frame = encode_frame(message)
    assert read_all(frame[: max(0, len(frame) - cut)]) == []


def test_a_declared_length_of_4_gib_is_an_error_and_the_stream_goes_on():
    after = encode_frame({"type": "ping", "id": "2"})
    huge = struct.pack("=I", 2**32 - 1) + b"x" * 100  # the sender stops long before 4 GiB
    outcomes = read_all(huge)
    assert len(outcomes) == 1 and isinstance(outcomes[0], FrameError) and "limit" in str(outcomes[0])
    over = struct.pack("=I", 40) + b"y" * 40 + after  # over a 32-byte limit, then a good frame
    outcomes = read_all(over, limit=32)
    assert isinstance(outcomes[0], FrameError) and outcomes[1] == {"type": "ping", "id": "2"}


def test_json_that_is_not_an_object_or_not_utf8_is_an_error_and_the_stream_goes_on():
    frames = b"".join(HEADER.pack(len(b)) + b for b in (b"[1, 2]", b"\xff\xfe", b"{not json", b'{"id": 1}'))
    outcomes = read_all(frames)
    assert [type(o).__name__ for o in outcomes] == ["FrameError"] * 3 + ["dict"]


def test_a_reply_over_the_browsers_limit_is_refused_before_writing():
    try:
        encode_frame({"data": "x" * MAX_REPLY})
    except ValueError as exc:
        assert "limit" in str(exc)
    else:
        raise AssertionError("an oversized reply was framed")
    body = encode_frame({"data": "é"})[HEADER.size:]
    assert json.loads(body.decode("utf-8")) == {"data": "é"}
