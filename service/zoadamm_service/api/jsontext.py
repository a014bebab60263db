"""The one JSON encoding of the service's answers.  JSON has no NaN or infinity, so every
non-finite float goes out as ``null``: a trace point whose f did not fit float32 is stored as
NaN (``domain.trace``) and read back as null, and no answer can fail to encode on one."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from fastapi.responses import JSONResponse

# what ``json.dumps(body, allow_nan=False)`` builds on every call, built once
_ENCODER = json.JSONEncoder(allow_nan=False)


def dumps(body: Any) -> str:
    """``body`` as JSON text, with NaN and +-inf as null."""
    try:
        return _ENCODER.encode(body)
    except ValueError:  # a non-finite float somewhere: only this rare answer pays for the walk
        return _ENCODER.encode(_finite(body))


def with_rows(body: dict, name: str, rows: list[str]) -> str:
    """``body`` with ``name``: the list of ``rows``, JSON texts spliced in as they are.  Stored
    metric reports are JSON already, of finite numbers only (the schema refuses others): a page
    of them is sent without parsing and encoding it again, which would hold the event loop."""
    return spliced(body, {name: f"[{', '.join(rows)}]"})


def spliced(body: dict, texts: dict[str, str]) -> str:
    """``body`` with each name of ``texts``: its value, a JSON text, spliced in as it is."""
    text = dumps(body)
    if not texts:
        return text
    added = ", ".join(f"{json.dumps(name)}: {value}" for name, value in texts.items())
    return f'{text[:-1]}{", " if body else ""}{added}}}'


def items(values: list) -> list[str]:
    """The JSON text of each of ``values`` (numbers, None, NaN and +-inf as null): a list whose
    slices are joined into answers (``spliced``) costs one encoding, however often it is sent."""
    text = dumps(values)
    return text[1:-1].split(", ") if values else []


def finite_list(values: np.ndarray) -> list:
    """A vector as a JSON-ready list (float64 values), NaN and +-inf as None."""
    as_floats = np.asarray(values, dtype=np.float64)
    out = as_floats.tolist()
    if not np.isfinite(as_floats).all():
        out = [v if math.isfinite(v) else None for v in out]
    return out


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


class FiniteJSON(JSONResponse):
    """The app's response class: FastAPI's JSON answers through ``dumps``."""

    def render(self, content: Any) -> bytes:
        return dumps(content).encode()


def error_response(status: int, detail: str, headers: Mapping[str, str] | None = None, /, **fields: Any) -> FiniteJSON:
    """Every error the service answers, from a route's handler or an ASGI layer (an ASGI app
    itself): ``{"detail": ..., **fields}`` with ``status``, the OpenAPI's ``Error``."""
    return FiniteJSON({"detail": detail, **fields}, status_code=status, headers=headers)
