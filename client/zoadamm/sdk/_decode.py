"""An answer's bytes as (fields, vectors): the service's JSON or binary frame, or the error it
stands for (``error_for``), or ``ForeignServerError`` for what no zoadamm service answers."""

from __future__ import annotations

import httpx
import numpy as np

from .. import wire
from ..optimizer import CONFIG_VECTORS
from .errors import error_for, foreign_server, redirected


def decode(response: httpx.Response) -> tuple[dict, dict[str, np.ndarray]]:
    """(fields, vectors) of a successful answer; raises the APIStatusError subclass otherwise
    (``ForeignServerError`` for an answer that no zoadamm service gives)."""
    media = response.headers.get("content-type", "").split(";")[0].strip()
    if response.status_code >= 400:
        try:
            body = response.json()
        except ValueError:
            body = None
        raise error_for(response, body if isinstance(body, dict) else None)
    if response.status_code == 204:
        return {}, {}
    if 300 <= response.status_code < 400:  # not followed: a POST would be sent on elsewhere, or lost
        raise redirected(response)
    if not response.content:  # every answer of the API but a 204 has a body
        raise foreign_server(response, None)
    if media == wire.MEDIA_TYPE:
        try:
            return wire.decode(response.content)
        except wire.WireError:  # the frame's media type on bytes that are no frame
            raise foreign_server(response, None) from None
    try:
        body = response.json()
    except ValueError:  # a page, not an answer of the API
        raise foreign_server(response, None) from None
    if not isinstance(body, dict):
        return {"items": body}, {}
    try:
        vectors = {k: np.asarray(body.pop(k), dtype=np.float32) for k in ("x", "u", *CONFIG_VECTORS)
                   if body.get(k) is not None}
    except (TypeError, ValueError):  # text or objects where a vector goes: no answer of the API
        raise foreign_server(response, None) from None
    if any(v.ndim == 0 for v in vectors.values()):  # a number (true reads as 1) where a list goes
        raise foreign_server(response, None)
    return body, vectors
