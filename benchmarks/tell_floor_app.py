"""The least a tell can cost on the service's stack, for ``bench_tell_floor.py``: an app that
answers the same HTTP calls as the service, with the same server (uvicorn, uvloop, httptools),
framework (FastAPI, its default middleware and router) and Redis client (redis-py with
hiredis), and does strictly less than any real tell must do.

A create keeps x0 in memory and answers an id.  A tell reads the body, decodes the frame, makes
one Redis round trip (a script that appends the step's record to a list and counts the step, as
a journal append does), and answers the step and x, unchanged, as a frame.  No key, no rate
limit, no session rules, no update of x, no metrics: whatever the real tell costs above this app
is what the service itself adds.

    uvicorn --factory tell_floor_app:create_app   (REDIS_URL in the environment)
"""

from __future__ import annotations

import os
import uuid

import numpy as np
import redis.asyncio as redis
from fastapi import FastAPI
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from zoadamm import wire

APPEND = """redis.call('RPUSH', KEYS[1], ARGV[1])
return redis.call('INCR', KEYS[2])"""


def create_app() -> FastAPI:
    store = redis.Redis.from_url(os.environ["REDIS_URL"])
    append = store.register_script(APPEND)
    points: dict[str, np.ndarray] = {}

    async def body_of(receive: Receive) -> bytes:
        parts, more = [], True
        while more:
            message = await receive()
            parts.append(message.get("body", b""))
            more = message.get("more_body", False)
        return b"".join(parts)

    async def answer(send: Send, status: int, content: bytes) -> None:
        await send({"type": "http.response.start", "status": status, "headers": [
            (b"content-length", b"%d" % len(content)), (b"content-type", wire.MEDIA_TYPE.encode())]})
        await send({"type": "http.response.body", "body": content})

    async def create(scope: Scope, receive: Receive, send: Send) -> None:
        _, vectors = wire.decode(await body_of(receive))
        session = uuid.uuid4().hex
        points[session] = vectors["x0"]
        await answer(send, 201, wire.encode({"id": session}))

    async def tell(scope: Scope, receive: Receive, send: Send) -> None:
        fields, _ = wire.decode(await body_of(receive))
        session = scope["path_params"]["session_id"]
        record = wire.encode({"step": fields["step"], "f_x": fields["f_x"], "f_plus": fields["f_plus"]})
        step = await append(keys=[f"journal:{session}", f"step:{session}"], args=[record])
        await answer(send, 200, wire.encode({"step": int(step)}, {"x": points[session]}))

    async def healthz(scope: Scope, receive: Receive, send: Send) -> None:
        await answer(send, 200, wire.encode({"status": "ok"}))

    return FastAPI(routes=[Route("/v1/sessions", Asgi(create), methods=["POST"]),
                           Route("/v1/sessions/{session_id}/tell", Asgi(tell), methods=["POST"]),
                           Route("/healthz", Asgi(healthz), methods=["GET"])])


class Asgi:
    """An ASGI callable the router calls as it is (a plain function would get a Request)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)
