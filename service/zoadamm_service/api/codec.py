"""Bodies in and out, as JSON or as the binary frame (``zoadamm.wire``), chosen by the
Content-Type and Accept headers."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Mapping, Sequence
from typing import TypeVar

import anyio
import numpy as np
from fastapi import Request, Response
from pydantic import BaseModel, ValidationError

from zoadamm import wire
from zoadamm._validate import F32_MAX, some
from zoadamm.optimizer import CONFIG_VECTORS

from ..domain.answers import VECTORS
from ..errors import Invalid, Malformed, Unsupported
from .admission import after_body
from .body import JSON, json_too_large, read_body
from .jsontext import dumps, finite_list
from .suggest import hinted

# The vector fields each POST takes: beside a frame's header, or as top-level lists of a JSON
# body.  A create's constraint vectors ("constraint.box.lower", ...) may also sit inline in its
# constraint object.
CREATE_VECTORS = ("x0", *CONFIG_VECTORS)
ASK_VECTORS = ("x",)
TELL_VECTORS = ("gradient",)
NO_VECTORS: tuple[str, ...] = ()
_VECTOR_SET = set(VECTORS)
Model = TypeVar("Model", bound=BaseModel)


async def read_message(request: Request, limit: int, takes: tuple[str, ...]) -> tuple[dict, dict[str, np.ndarray]]:
    """The body's scalar fields and its vectors (float32), as ``decode_message``; the body read
    within ``body_timeout_s``."""
    settings = request.app.state.settings
    headers = request.headers
    content_type = headers.get("content-type")
    body = await read_body(request.receive, headers.get("content-length"), limit, settings.body_timeout_s,
                           ", ".join(headers.getlist("content-encoding")) or None, content_type,
                           settings.max_json_bytes, request.app.state.body_bytes, request.scope.setdefault("state", {}))
    await after_body(request.scope)
    return decode_message(body, content_type, settings.max_json_bytes, takes)


def decode_message(body: bytes, content_type: str | None, max_json_bytes: int,
                   takes: tuple[str, ...]) -> tuple[dict, dict[str, np.ndarray]]:
    """The scalar fields and the vectors (float32) of a body sent with ``content_type``: the
    vectors ``takes`` names (the route's vector fields, ``CREATE_VECTORS`` ...); another route's
    vector is refused, not ignored (a JSON list of that name stays a field, which the route's
    strict model refuses).  An empty body without a Content-Type is an empty message.

    Raises:
        TooLarge: a JSON body is over ``max_json_bytes``.
        Unsupported: a body whose Content-Type is missing or other than JSON or the frame.
        Malformed: undecodable JSON or frame.
        Invalid: a vector field that is not a flat list of numbers, or a frame vector that is
            not a vector field.
    """
    media = (content_type or "").split(";")[0].strip().lower()
    if media == wire.MEDIA_TYPE:
        try:
            fields, vectors = wire.decode(body)
        except (ValueError, RecursionError) as exc:  # RecursionError: a deeply nested header
            raise Malformed(f"malformed frame: {_said(exc)}") from None
        if not vectors.keys() <= set(takes):
            unknown = some(sorted(set(vectors) - set(takes)))
            raise Invalid(f"frame vectors {unknown} are not vector fields of this request; "
                          f"it takes {list(takes) or 'none'} as vectors; its other fields (function "
                          "values included) go in the frame's JSON header")
        vectors = dict(vectors)
        # a vector field may also sit in the header as a list: it must not be ignored
        vectors.update(_vector_fields(fields, takes))
        return fields, vectors
    if content_type is None and not body:
        return {}, {}
    if media != JSON:
        raise Unsupported(f"Content-Type must be {JSON} or {wire.MEDIA_TYPE}, not {content_type!r}")
    _check_charset(content_type or "")
    if len(body) > max_json_bytes:
        raise json_too_large(max_json_bytes)
    try:
        # JSON is UTF-8 (RFC 8259); a byte-order mark is allowed and skipped
        fields = wire.STRICT_JSON.decode(body.decode("utf-8-sig")) if body.strip() else {}
    except (ValueError, RecursionError) as exc:  # also bad UTF-8, a name twice, deep nesting, 5000-digit integers
        frame = body.startswith(wire.MAGIC)
        raise Malformed(f"body is not valid JSON: {_said(exc)}"
                        + (f"; this body is a binary frame: send it as {wire.MEDIA_TYPE}" if frame else "")) from None
    if not isinstance(fields, dict):
        raise Malformed("body must be a JSON object")
    return fields, _vector_fields(fields, takes)


def _said(exc: Exception) -> str:
    """A decoding error in the caller's terms: Python's advice to raise its limit on an
    integer's digits is not the caller's to take."""
    if "integer string conversion" in str(exc):
        return f"an integer of more than {sys.get_int_max_str_digits():,} digits, more than any field takes"
    return str(exc)


def _check_charset(content_type: str) -> None:
    """A JSON body's charset, where the Content-Type names one, must be UTF-8."""
    for parameter in content_type.split(";")[1:]:
        name, _, value = parameter.partition("=")
        charset = value.strip().strip('"').lower()
        if name.strip().lower() == "charset" and charset not in ("utf-8", "utf8"):
            raise Unsupported(f"a JSON body is UTF-8 (RFC 8259), not charset={charset}; send it in UTF-8")


def _vector_fields(fields: dict, takes: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Pops the vector fields ``takes`` names out of ``fields`` (a constraint's too:
    "constraint.box.lower" as a top-level list is the vector a frame would carry beside its
    header)."""
    return {name: json_vector(name, fields.pop(name)) for name in takes if fields.get(name) is not None}


def json_vector(name: str, value) -> np.ndarray:
    """A JSON list of numbers as the float64 vector it is.  Raises Invalid for anything else."""
    # strict, as the schema: no booleans and no strings, which numpy would convert
    if not isinstance(value, list):
        raise Invalid(f"{name} must be a list of numbers")
    if not set(map(type, value)) <= {int, float}:
        index, bad = next((i, v) for i, v in enumerate(value) if type(v) not in (int, float))
        raise Invalid(f"{name} must be a list of numbers; {name}[{index}] is "
                      + (wire.NULL_NUMBER if bad is None else json.dumps(bad)[:40]))
    try:
        array = np.asarray(value, dtype=np.float64)
    except OverflowError:  # an integer beyond float64, which JSON may carry
        index = next(i for i, v in enumerate(value) if type(v) is int and abs(v) > sys.float_info.max)
        raise Invalid(f"{name}[{index}] is beyond float32's range (it rounds to infinity; float32's largest is "
                      f"{F32_MAX!r})") from None
    except (TypeError, ValueError):
        raise Invalid(f"{name} must be a flat list of numbers") from None
    if array.ndim != 1:
        raise Invalid(f"{name} must be a flat list of numbers")
    return array


def validate(model: type[Model], fields: dict) -> Model:
    """Raises Invalid with pydantic's messages, minus the offending input (it may be NaN,
    which JSON cannot carry back)."""
    if len(fields) > len(_field_names(model)):  # unknown fields for certain: named here, not one error each
        known = _field_names(model)
        unknown = [name for name in fields if name not in known]
        listed = hinted(model, [{"loc": [name], "msg": "Extra inputs are not permitted", "type": "extra_forbidden"}
                                for name in unknown[:ERRORS_LISTED]])
        raise Invalid(error_detail(listed, len(unknown)), errors=listed)
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        errors = one_branch(exc.errors())
        listed = hinted(model, clean_errors(errors))
        raise Invalid(error_detail(listed, len(errors)), errors=listed) from None


@functools.cache
def _field_names(model: type[BaseModel]) -> frozenset[str]:
    """The fields as a body names them (an alias where one is set), cached: ``model_fields`` is a
    descriptor of pydantic's, dearer than this on the per-step path."""
    return frozenset(field.alias or name for name, field in model.model_fields.items())


ERRORS_LISTED = 20  # a 422 lists at most this many errors: a small body must not make a huge answer


def one_branch(errors: Sequence) -> list:
    """Pydantic's errors for a number-or-list field (a tell's ``f_x``), as of one kind of input:
    pydantic tries both and names each try in ``loc`` (``f_x.float: Input should be a valid
    number`` and ``f_x.list[float]: Input should be a valid list``), which reads as two mistakes
    in a field no body has. Kept are the errors of the try the input's kind chose, without its
    name: a list's bad element (``f_x.1``), or else the field itself."""
    tries = {(e["loc"][0], e["loc"][1]) for e in errors if len(e.get("loc", ())) > 1}
    given_list = {e["loc"][0]: isinstance(e.get("input"), list) for e in errors
                  if len(e.get("loc", ())) > 1 and e["loc"][1] == SCALAR and (e["loc"][0], LISTED) in tries}
    kept = []
    for error in errors:
        loc = tuple(error.get("loc", ()))
        if loc[:1] and loc[0] in given_list and loc[1:2] in ((SCALAR,), (LISTED,)):
            if (loc[1] == LISTED) != given_list[loc[0]]:
                continue
            error = {**error, "loc": (loc[0], *loc[2:])}
            if error.get("type") == "float_type" and len(loc) == 2:
                error["msg"] = "Input should be a number or a list of numbers"
        kept.append(error)
    return kept


SCALAR, LISTED = "float", "list[float]"  # how pydantic names the two tries of Finite | Values


def clean_errors(errors) -> list[dict]:
    """The first ``ERRORS_LISTED`` errors, each its place, message and type."""
    return [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in errors[:ERRORS_LISTED]]


def error_detail(listed: list[dict], errors: int) -> str:
    """The 422's detail: the first error's place and message (a client that reads only
    ``detail`` learns which field), and how many more there were."""
    first = listed[0] if listed else {"loc": [], "msg": ""}
    detail = f"invalid request: {'.'.join(map(_shown, first['loc'])) or 'body'}: {first['msg']}"
    if errors > ERRORS_LISTED:
        return f"{detail} ({errors:,} errors, the first {ERRORS_LISTED} listed)"
    return detail if errors <= 1 else f"{detail} (and {errors - 1} more, listed in errors)"


def _shown(place) -> str:
    """A place of ``loc`` for the detail line: a key the client chose (a metric's name, an
    unknown field) quoted and escaped where it is empty, long or holds what a log line must
    not (a line break, a bidi override), as ``errors`` keeps it whole."""
    text = str(place)
    return text if text.isprintable() and 0 < len(text) <= 64 and text.isascii() else ascii(text[:64])


def respond(request: Request, fields: dict, vectors: Mapping[str, np.ndarray | None] | None = None,
            status: int = 200) -> Response:
    """``fields`` and ``vectors`` in the binary frame when the request accepts it, else as JSON."""
    body, media = encode(request.headers.get("accept", ""), fields, vectors)
    return Response(body, status_code=status, media_type=media)


def encode(accept: str, fields: dict, vectors: Mapping[str, np.ndarray | None] | None = None) -> tuple[bytes, str]:
    """The body of an answer and its media type: the binary frame when ``accept`` names it, else JSON."""
    present = {k: v for k, v in (vectors or {}).items() if v is not None}
    if wire.accepts_frame(accept):
        return wire.encode(fields, present), wire.MEDIA_TYPE
    return _json_text(fields, present).encode(), JSON


async def answer(request: Request, model: BaseModel, status: int = 200, headers: dict | None = None) -> Response:
    """Send ``model`` (``encode_answer``)."""
    body, media = await encode_answer(request.headers.get("accept", ""), model)
    return Response(body, status_code=status, media_type=media, headers=headers)


async def encode_answer(accept: str, model: BaseModel) -> tuple[bytes, str]:
    """The body of ``model`` (``domain.answers``) and its media type: the fields that were set,
    its vector fields as vectors.  Large vectors are encoded on a worker thread, in pieces short
    enough that the event loop gets its turn between them (the JSON encoder holds the GIL while
    it runs)."""
    fields = model.model_dump(exclude_unset=True, exclude=_VECTOR_SET)
    # the model's own fields only: looking up one it lacks costs pydantic an exception
    names, values = type(model).model_fields, vars(model)
    vectors = {name: values[name] for name in VECTORS if name in names and values[name] is not None}
    if "vectors" in names:  # a session's config vectors
        vectors.update(values["vectors"] or {})
    if sum(np.size(v) for v in vectors.values()) < THREAD_MIN_VALUES:
        return encode(accept, fields, vectors)
    return await anyio.to_thread.run_sync(encode, accept, fields, vectors)


# vectors of more values are encoded off the event loop, JSON in pieces of JSON_PIECE values
THREAD_MIN_VALUES = 1 << 15
JSON_PIECE = 1 << 14


def _json_text(fields: dict, vectors: Mapping[str, np.ndarray]) -> str:
    text = dumps(fields)
    if not vectors:
        return text
    parts = [text[:-1], ", " if fields else ""]
    for i, (name, values) in enumerate(vectors.items()):
        parts += [", " if i else "", json.dumps(name), ": ", *_json_array(np.asarray(values))]
    return "".join([*parts, "}"])


def _json_array(values: np.ndarray):
    """The JSON text of an array, in pieces (a float32 value prints as the float64 it is)."""
    if values.ndim > 1:
        yield "["
        for i, row in enumerate(values):
            yield ", " if i else ""
            yield from _json_array(row)
        yield "]"
        return
    yield "["
    for start in range(0, values.size, JSON_PIECE):
        yield ", " if start else ""
        yield dumps(finite_list(values[start:start + JSON_PIECE]))[1:-1]
    yield "]"
