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
