"""``Idempotency-Key``: a POST sent again with the same key (a client retrying after a lost
answer) gets the first answer and changes nothing.  The key is scoped to the tenant; the
request is fingerprinted from its decoded fields and vectors, so JSON and the binary frame of
the same request agree (a constraint's vector too, whether it sits in the constraint, beside it
as a top-level list or in the frame), a whole number counts alike written 3 or 3.0, and the
same key with another request is refused (422).  A vector counts as float32, as the session
holds it, except a constraint's: its bounds round inward from the value sent, so two lists
alike in float32 can still make two sets, and they count as sent."""

from __future__ import annotations

import hashlib
import json
import re

import numpy as np
from starlette.requests import Request

from zoadamm.constraints import VECTOR_FIELDS
from zoadamm.optimizer import CONFIG_VECTORS

from ..domain.ids import RequestKey
from ..errors import Invalid
from .codec import json_vector

HEADER = "idempotency-key"
MAX_CHARS = 255
# printable ASCII, the characters of a Structured Field string (RFC 8941), as the Idempotency-Key
# draft defines the header; the OpenAPI document states the same pattern
PATTERN = f"^[ -~]{{1,{MAX_CHARS}}}$"
_VALID = re.compile(PATTERN)


def request_key(request: Request, fields: dict, vectors: dict[str, np.ndarray], kind: str = "") -> RequestKey | None:
    """The request's key, or None without the header.  Raises Invalid for a malformed one.

    ``kind`` keeps the keys of one kind of request apart from the others' (a metric report's
    record lives beside its session's create record, and the same header sent for both is two
    requests); a create's is "", as its session's id derives from that key."""
    values = request.headers.getlist(HEADER)
    if not values:
        return None
    if len(values) > 1:  # which one the client meant is not ours to guess
        raise Invalid(f"send one Idempotency-Key header, not {len(values)}")
    value = values[0]
    if not _VALID.fullmatch(value):
        raise Invalid(f"Idempotency-Key must be 1 to {MAX_CHARS} printable ASCII characters (space to ~)")
    tenant = request.state.tenant
    scoped = f"{tenant}\n{kind}\n{value}" if kind else f"{tenant}\n{value}"
    key = hashlib.blake2b(scoped.encode(), digest_size=16)
    fields, vectors = _constraint_lists_as_vectors(fields, vectors)
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{request.method} {request.url.path}\n".encode())
    try:
        text = json.dumps(_integers_as_int(fields), sort_keys=True, separators=(",", ":"))
    except RecursionError:  # JSON the parser took, nested past Python's stack: no field nests so deep
        raise Invalid("the body's JSON nests deeper than any field of this request takes") from None
    digest.update(text.encode())
    for name in sorted(vectors):
        digest.update(f"\n{name}\n".encode())
        digest.update(np.ascontiguousarray(vectors[name], dtype="<f8" if name in CONFIG_VECTORS else "<f4").data)
    return RequestKey(key.hexdigest(), digest.hexdigest())


def _integers_as_int(value):
    """The fields with every whole float written as the integer it is: the API reads 3.0 as 3
    (docs/api.md), so ``{"dim": 3.0}`` is the request ``{"dim": 3}`` and gets its answer."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _integers_as_int(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_integers_as_int(item) for item in value]
    return value


def _constraint_lists_as_vectors(fields: dict, vectors: dict[str, np.ndarray]) -> tuple[dict, dict[str, np.ndarray]]:
    """The request with a constraint's lists of numbers (``constraint.box.lower`` ...) moved out of
    its fields into its vectors as float64, where a top-level list or a frame puts them; anything
    else as it is (the schema refuses it later)."""
    constraint = fields.get("constraint")
    if not isinstance(constraint, dict):
        return fields, vectors
    constraint, vectors = dict(constraint), dict(vectors)
    for path in VECTOR_FIELDS:
        part, name = path.split(".")
        given = constraint.get(part)
        name_as_vector = f"constraint.{path}"
        if not isinstance(given, dict) or not isinstance(given.get(name), list) or name_as_vector in vectors:
            continue
        try:
            vectors[name_as_vector] = json_vector(name_as_vector, given[name])  # as a top-level list is read
        except Invalid:  # not a vector: left as it is, for the validation that follows to refuse
            continue
        constraint[part] = {key: value for key, value in given.items() if key != name}
    return {**fields, "constraint": constraint}, vectors
