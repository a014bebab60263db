"""The binary frame's decoder says what is wrong with a frame it refuses: an oversized header is
named as such (it read "exceeds the frame", whatever the frame's length)."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from zoadamm import wire


def test_a_frame_round_trips_and_each_refusal_says_why():
    fields, vectors = wire.decode(wire.encode({"step": 3}, {"x": np.arange(4, dtype=np.float32)}))
    assert fields == {"step": 3} and vectors["x"].tolist() == [0.0, 1.0, 2.0, 3.0]
    header = b'{"pad": "' + b"a" * (wire.MAX_HEADER_BYTES + 8) + b'"}'
    oversized = struct.pack("<4sI", wire.MAGIC, len(header)) + header
    with pytest.raises(wire.WireError, match=f"over the {wire.MAX_HEADER_BYTES}-byte limit"):
        wire.decode(oversized)
    with pytest.raises(wire.WireError, match="exceeds the frame"):
        wire.decode(struct.pack("<4sI", wire.MAGIC, 64) + b"{}")


@pytest.mark.parametrize(("accept", "frame"), [
    (wire.MEDIA_TYPE, True),
    (f"{wire.MEDIA_TYPE}, application/json", True),  # what the SDK sends
    (f"{wire.MEDIA_TYPE.upper()}; Q=0.9, application/json;q=0.5", True),  # case-insensitive
    (f"{wire.MEDIA_TYPE};q=0.5, */*;q=0.1", True),
    (f"{wire.MEDIA_TYPE};q=0", False),  # "not this"
    (f"application/json, {wire.MEDIA_TYPE};q=0.5", False),  # JSON weighs more
    (f"application/*;q=0.8, {wire.MEDIA_TYPE};q=0.5", False),
    (f"{wire.MEDIA_TYPE};q=none", False),  # a weight nobody can read
    ("*/*", False), ("application/*", False), ("", False),  # a wildcard gets JSON, which every client reads
])
def test_the_frame_is_sent_when_accept_weighs_it_above_json(accept, frame):
    assert wire.accepts_frame(accept) is frame


def test_a_huge_accept_header_is_read_only_so_far_and_not_kept():
    cached = wire._accepts.cache_info().currsize
    assert wire.accepts_frame(f"{wire.MEDIA_TYPE}, " + "x" * 10_000_000) is True
    assert wire.accepts_frame("x" * 10_000_000 + wire.MEDIA_TYPE) is False  # past what is read
    assert wire._accepts.cache_info().currsize == cached
