"""The per-step tell, the service's hot path, answered straight from the ASGI call.

``tell_asgi`` reads the few headers it needs from the scope, the body from ``receive``, and
sends the encoded answer itself: no Request, no Response, no query-parameter or header
objects.  Everything around it is as for any route (``lean_route.LeanRoute``): the pipeline
and every other middleware, the router (which puts the route in ``scope["route"]``), and the
exception handlers, which turn an error raised here into its JSON answer.  ``tell`` is the
same call with FastAPI's objects: the OpenAPI description is made from it, and a route that
gets dependencies runs it instead.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import numpy as np
from fastapi import Request, Response
from starlette.types import Receive, Scope, Send

from zoadamm import AnswerMode, wire

from ..domain.answers import TellAnswer
from ..domain.inputs import ZOValues
from ..domain.leases import LeaseAsk, Leases
from ..domain.sessions import Sessions
from ..errors import Invalid
from ..turns import Yieldable
from .admission import after_body
from .body import JSON, read_body
from .codec import TELL_VECTORS, decode_message, encode_answer, read_message, validate
from .query import checked
from .schemas import TellRequest

MEDIA = {JSON: JSON.encode(), wire.MEDIA_TYPE: wire.MEDIA_TYPE.encode()}
QUERY = frozenset({"answer"})  # what a tell's query may name


async def tell(request: Request, session_id: str) -> Response:
    """Report the open step's values (ZO: f_x, f_plus[, f_minus]; FO: gradient) and get the
    update.  Repeating a tell returns the same answer; a stale or future step gets 409."""
    mode = answer_mode(checked(request.query_params.multi_items(), QUERY).get("answer", AnswerMode.X.value))
    fields, vectors = await read_message(request, request.app.state.settings.max_body_bytes, TELL_VECTORS)
    result = await told(request.app.state, request.state.tenant, session_id, mode, fields, vectors,
                        getattr(request.state, "turn", None))
    body, media = await encode_answer(request.headers.get("accept", ""), result)
    return Response(body, status_code=result.status, media_type=media)


async def tell_asgi(scope: Scope, receive: Receive, send: Send) -> None:
    """``tell`` as an ASGI app: the same checks, in the same order, and the same answer."""
    state = scope["app"].state
    settings = state.settings
    content_type, length, accept, encoding = _headers(scope["headers"])
    query = scope["query_string"]
    mode = answer_mode(checked(parse_qsl(query.decode("latin-1"), keep_blank_values=True), QUERY).get(
        "answer", AnswerMode.X.value) if query else AnswerMode.X.value)
    body = await read_body(receive, length, settings.max_body_bytes, settings.body_timeout_s, encoding,
                           content_type, settings.max_json_bytes, state.body_bytes, scope["state"])
    await after_body(scope)
    fields, vectors = decode_message(body, content_type, settings.max_json_bytes, TELL_VECTORS)
    call = scope["state"]
    result = await told(state, call["tenant"], scope["path_params"]["session_id"], mode, fields, vectors,
                        call.get("turn"))
    content, media = await encode_answer(accept, result)
    await send({"type": "http.response.start", "status": result.status,
                "headers": [(b"content-length", b"%d" % len(content)), (b"content-type", MEDIA[media])]})
    await send({"type": "http.response.body", "body": content})


async def told(state: Any, tenant: str, session_id: str, mode: AnswerMode, fields: dict,
               vectors: dict[str, np.ndarray], turn: Yieldable | None = None) -> TellAnswer:
    """The answer to a tell whose body held ``fields`` and ``vectors``; ``turn``: the call's, given
    back while a lease waits.  Raises Invalid, Conflict, NotFound, as the session rules do."""
    sessions: Sessions = state.sessions
    body = validate(TellRequest, fields)
    if "gradient" in vectors:
        if body.f_plus is not None or body.f_minus is not None or body.f_x is not None:
            raise Invalid("send either a gradient or function values, not both")
        if body.indices is not None:  # a gradient is the whole step: no part of it is reported alone
            raise Invalid("indices belong to the zo-* methods' split steps; a gradient tell is the whole step")
        if body.lease is not None:
            raise Invalid("a gradient tell leases no directions: only sessions that take function values do")
        return await sessions.tell_fo(tenant, session_id, body.step, vectors["gradient"], mode)
    if body.f_plus is None:
        raise Invalid("a tell needs f_plus (the zo-* methods) or gradient (adamm)")
    values = ZOValues(body.step, body.f_x, body.f_plus, body.f_minus, body.indices)
    if body.lease is not None:
        leases: Leases = state.leases
        return await leases.tell_and_lease(tenant, session_id, values, tell_lease(body, body.lease, mode, turn))
    return (await sessions.tell_zo(tenant, session_id, values, mode)).answer


def tell_lease(body: TellRequest, count: int, answer: AnswerMode, turn: Yieldable | None = None) -> LeaseAsk:
    """A tell's lease fields (``count``: its ``lease``): it answers records, and a repeat must
    find its lease again."""
    if answer is not AnswerMode.CHECKSUM or body.worker is None:
        raise Invalid("a tell with lease needs answer=checksum and a worker name")
    return LeaseAsk(count, body.worker, body.wait, None, body.until, turn)


def answer_mode(text: str) -> AnswerMode:
    try:
        return AnswerMode(text)
    except ValueError:
        raise Invalid(f"answer must be one of {', '.join(m.value for m in AnswerMode)}, not {text[:64]!r}") from None


def _headers(headers: list[tuple[bytes, bytes]]) -> tuple[str | None, str | None, str, str | None]:
    """Content-Type, Content-Length and Accept, each its first value (as Starlette's
    ``Headers`` reads them), and every Content-Encoding, joined."""
    found: dict[bytes, bytes] = {}
    for name, value in headers:
        if name in _WANTED and name not in found:
            found[name] = value
        elif name == b"content-encoding":  # every one counts: a second must not hide behind an identity
            found[name] += b", " + value
    content_type, length, accept, encoding = (found.get(name) for name in _WANTED)
    return (None if content_type is None else content_type.decode("latin-1"),
            None if length is None else length.decode("latin-1"),
            "" if accept is None else accept.decode("latin-1"),
            None if encoding is None else encoding.decode("latin-1"))


_WANTED = (b"content-type", b"content-length", b"accept", b"content-encoding")
