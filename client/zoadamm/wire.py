"""The binary frame that carries vectors as raw little-endian float32 (``docs/api.md``, "Binary vectors").

JSON works everywhere, but a large vector as a JSON list costs many times its raw bytes to write
and read, so vectors travel in this frame when a client asks for it with Content-Type/Accept::

    magic   4 bytes   b"ZOF1"
    length  uint32 LE byte length of the header
    header  UTF-8 JSON object: the message's scalar fields, plus
            "vectors": [[name, count], ...] naming the payload's vectors in order
            (padded with spaces so that the payload starts at a multiple of 4)
    payload the vectors' float32 values, little-endian, concatenated in header order

A message's fields are the same in both encodings; in the frame, a vector field's values sit in
the payload instead of the header.
"""

from __future__ import annotations

import functools
import json
import struct
import zlib
from enum import Enum

import numpy as np

MEDIA_TYPE = "application/vnd.zoadamm.frame"
# how an error names a JSON null where a number belongs: the usual cause, said where it shows
NULL_NUMBER = "null (JSON has no NaN or Infinity, and JavaScript's JSON.stringify writes them as null)"
MAGIC = b"ZOF1"
_PREFIX = struct.Struct("<4sI")
_F32 = np.dtype("<f4")
MAX_HEADER_BYTES = 1 << 20
# The largest integer a JavaScript client reads exactly from JSON (Number.MAX_SAFE_INTEGER):
# every integer the API takes stays within it, so no client turns one number into another (and
# each fits Redis's 64-bit integers).
SAFE_INT = 2**53 - 1
# what ``json.dumps(..., separators=(",", ":"), allow_nan=False)`` builds on every call, built once
_HEADER_JSON = json.JSONEncoder(separators=(",", ":"), allow_nan=False)


class AnswerMode(str, Enum):
    """What a tell's answer carries: the updated parameters, or (for clients that apply the
    same update themselves) a checksum of x and the step's coefficients."""

    X = "x"
    CHECKSUM = "checksum"


def _unique_names(pairs: list) -> dict:
    """A JSON object, refused (ValueError) when it names a field twice: which one was meant is not
    ours to guess (Python's json keeps the last, other parsers the first)."""
    fields = dict(pairs)
    if len(fields) != len(pairs):
        names = [name for name, _ in pairs]
        raise ValueError(f"names {next(n for n in names if names.count(n) > 1)!r} twice in one object; "
                         "send each field once")
    return fields


# the JSON of a frame's header and of the service's JSON bodies: ``STRICT_JSON.decode(text)``
STRICT_JSON = json.JSONDecoder(object_pairs_hook=_unique_names)
_JSON_RANGES = {"*/*": 0, "application/*": 1, "application/json": 2}  # the most specific match counts


def accepts_frame(accept: str) -> bool:
    """Whether an Accept header asks for the frame: named, with a weight above 0 and not below
    that of JSON (``application/json``, else ``application/*``, else ``*/*``).  A wildcard
    alone gets JSON, which every client reads.  A header past ``ACCEPT_READ`` characters is
    read that far, and not kept: no client needs more, and a cache of huge ones held memory."""
    return _accepts(accept) if len(accept) <= ACCEPT_READ else _weighs_frame(accept[:ACCEPT_READ])


ACCEPT_READ = 4096


def _weighs_frame(accept: str) -> bool:
    accept = accept.lower()  # media types and their parameters' names are case-insensitive
    if MEDIA_TYPE not in accept:
        return False
    frame = json_q = 0.0
    json_rank = -1
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip() == "q":
                try:
                    q = min(1.0, max(0.0, float(value)))
                except ValueError:
                    q = 0.0  # a weight nobody can read asks for nothing
        if media == MEDIA_TYPE:
            frame = max(frame, q)
        rank = _JSON_RANGES.get(media, -1)
        if rank > json_rank:
            json_rank, json_q = rank, q
    return frame > 0 and frame >= json_q


_accepts = functools.lru_cache(maxsize=256)(_weighs_frame)  # a client sends the same header on every call


class WireError(ValueError):
    """A frame that cannot be decoded (the service answers 400)."""


def encode(fields: dict, vectors: dict[str, np.ndarray] | None = None) -> bytes:
    """Encode scalar ``fields`` and float32 ``vectors`` (any shape; flattened) into one frame."""
    vectors = vectors or {}
    arrays = [np.ascontiguousarray(v, dtype=_F32).reshape(-1) for v in vectors.values()]
    header = dict(fields)
    header["vectors"] = [[name, int(a.size)] for name, a in zip(vectors, arrays, strict=True)]
    text = _HEADER_JSON.encode(header).encode()
    text += b" " * (-(_PREFIX.size + len(text)) % 4)
    # the vectors' own buffers, not .tobytes(): join copies once, where a copy per vector of a
    # large one costs more than the join itself (a fresh allocation's page faults)
    return b"".join([_PREFIX.pack(MAGIC, len(text)), text, *(a.data for a in arrays)])


def _json_hint(body: bytes) -> str:
    """For a body that is no frame: what to do when it is JSON (opening with a BOM, as JSON may)."""
    start = body[:64].removeprefix(b"\xef\xbb\xbf").lstrip()[:1]
    return "; this body is JSON: send it as application/json" if start in (b"{", b"[") else ""


def decode(body: bytes) -> tuple[dict, dict[str, np.ndarray]]:
    """Decode a frame into (fields, {name: float32 vector}); vectors are read-only views.

    Raises:
        WireError: bad magic, truncated or oversized header, header not a JSON object (or one
            that names a field twice), a malformed "vectors" list, or a payload whose size does not match it.
    """
    if len(body) < _PREFIX.size:
        raise WireError("frame too short" + _json_hint(body))
    magic, length = _PREFIX.unpack_from(body)
    if magic != MAGIC:
        raise WireError(f"bad frame magic {magic!r}; expected {MAGIC!r}" + _json_hint(body))
    start = _PREFIX.size + length
    if length > MAX_HEADER_BYTES:
        raise WireError(f"frame header is {length} bytes, over the {MAX_HEADER_BYTES}-byte limit "
                        "(vectors belong in the payload)")
    if start > len(body):
        raise WireError("frame header length exceeds the frame")
    try:
        header = STRICT_JSON.decode(body[_PREFIX.size : start].decode("utf-8"))
    except ValueError as exc:  # bad UTF-8, bad JSON, a name twice, an integer of over 4,300 digits
        padded = b"\0" in body[_PREFIX.size : start]
        raise WireError(f"frame header is not JSON: {exc}"
                        + (" (pad the header with spaces, not NUL bytes, to a multiple of 4 bytes)" if padded else "")
                        ) from None
    if not isinstance(header, dict):
        raise WireError("frame header must be a JSON object")
    layout = header.pop("vectors", [])
    if not isinstance(layout, list) or not all(
        isinstance(e, list) and len(e) == 2 and isinstance(e[0], str)
        and isinstance(e[1], int) and not isinstance(e[1], bool) and e[1] >= 0
        for e in layout
    ):
        raise WireError('frame "vectors" must be a list of [name, count] pairs, each count a whole number >= 0')
    if start % 4:
        raise WireError("frame payload must start at a multiple of 4 bytes")
    expected = sum(count for _, count in layout) * 4
    if len(body) - start != expected:
        raise WireError(f"frame payload has {len(body) - start} bytes, its header declares {expected}")
    vectors, offset = {}, start
    for name, count in layout:
        if name in vectors or name in header:
            raise WireError(f"frame field {name!r} appears twice")
        vectors[name] = np.frombuffer(body, dtype=_F32, count=count, offset=offset)
        offset += count * 4
    return header, vectors


def checksum(x: np.ndarray) -> str:
    """CRC-32 of a vector's little-endian float32 bytes, as 8 hex digits.  A client that mirrors
    the optimizer compares it with the service's to confirm both hold the same parameters."""
    return f"{zlib.crc32(np.ascontiguousarray(x, dtype=_F32).data):08x}"
