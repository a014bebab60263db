"""Bodies in and out, as JSON or as the binary frame (``zoadamm.wire``), chosen by the
Content-Type and Accept headers."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TypeVar

import numpy as np
from fastapi import Request, Response
from pydantic import BaseModel, ValidationError

from zoadamm import wire

from ..errors import Invalid, Malformed, TooLarge, Unsupported

VECTOR_FIELDS = ("x", "x0", "gradient")
JSON = "application/json"
Model = TypeVar("Model", bound=BaseModel)


async def read_message(request: Request, limit: int) -> tuple[dict, dict[str, np.ndarray]]:
    """The body's scalar fields and its vectors (float32).

    Raises:
        TooLarge: the body is over ``limit`` bytes (checked while reading, not only the header).
        Unsupported: a Content-Type other than JSON or the frame.
        Malformed: undecodable JSON or frame.
        Invalid: a vector field that is not a flat list of numbers, or a frame vector that is
            not a vector field.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"body of {declared} bytes is over the {limit}-byte limit")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"body is over the {limit}-byte limit")
        chunks.append(chunk)
    body = b"".join(chunks)
    media = request.headers.get("content-type", JSON).split(";")[0].strip().lower()
    if media == wire.MEDIA_TYPE:
        try:
            fields, vectors = wire.decode(body)
        except (wire.WireError, RecursionError) as exc:  # RecursionError: a deeply nested header
            raise Malformed(f"malformed frame: {exc}") from None
        unknown = sorted(set(vectors) - set(VECTOR_FIELDS))
        if unknown:
            raise Invalid(f"frame vectors {unknown} are not vector fields; those are {list(VECTOR_FIELDS)}")
        vectors = dict(vectors)
        # a vector field may also sit in the header as a list: it must not be ignored
        vectors.update(_vector_fields(fields))
        return fields, vectors
    if media not in (JSON, "", "*/*"):
        raise Unsupported(f"Content-Type must be {JSON} or {wire.MEDIA_TYPE}, not {media!r}")
    try:
        fields = json.loads(body) if body.strip() else {}
    except (ValueError, RecursionError) as exc:  # also bad UTF-8, deep nesting, 5000-digit integers
        raise Malformed(f"body is not valid JSON: {exc}") from None
    if not isinstance(fields, dict):
        raise Malformed("body must be a JSON object")
    return fields, _vector_fields(fields)


def _vector_fields(fields: dict) -> dict[str, np.ndarray]:
    """Pops the vector fields out of ``fields``."""
    return {name: _json_vector(name, fields.pop(name)) for name in VECTOR_FIELDS if fields.get(name) is not None}


def _json_vector(name: str, value) -> np.ndarray:
    if not isinstance(value, list):
        raise Invalid(f"{name} must be a list of numbers")
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an integer beyond float64
        raise Invalid(f"{name} must be a flat list of numbers") from None
    if array.ndim != 1:
        raise Invalid(f"{name} must be a flat list of numbers")
    return array


def validate(model: type[Model], fields: dict) -> Model:
    """Raises Invalid with pydantic's messages, minus the offending input (it may be NaN,
    which JSON cannot carry back)."""
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        raise Invalid("invalid request", errors=clean_errors(exc.errors())) from None


def clean_errors(errors) -> list[dict]:
    return [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in errors]


def respond(request: Request, fields: dict, vectors: Mapping[str, np.ndarray | None] | None = None,
            status: int = 200) -> Response:
    present = {k: v for k, v in (vectors or {}).items() if v is not None}
    if wire.MEDIA_TYPE in request.headers.get("accept", ""):
        return Response(wire.encode(fields, present), status_code=status, media_type=wire.MEDIA_TYPE)
    body = dict(fields)
    body.update({k: np.asarray(v).tolist() for k, v in present.items()})
    return Response(json.dumps(body, allow_nan=False), status_code=status, media_type=JSON)


def body_doc(model: type[BaseModel]) -> dict:
    """OpenAPI text for a route that reads its body through ``read_message``."""
    schema = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {
        "requestBody": {
            "required": True,
            "content": {
                JSON: {"schema": schema},
                wire.MEDIA_TYPE: {
                    "schema": {"type": "string", "format": "binary"},
                    "description": "The same fields in a binary frame: vectors as raw little-endian float32 "
                                   "(docs/api.md, section Binary vectors).",
                },
            },
        }
    }
