"""Every ``/v1`` call names its tenant with a key (``Authorization: Bearer <key>``); the tenant
travels with the request as ``request.state.tenant``.

A pure ASGI middleware, so it sees every call, the per-step tell included, before any route
runs.  ``/healthz``, ``/metrics``, the API docs and the dashboard's page stay open: they hold
no session data (the dashboard's data comes from ``/v1``).
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Receive, Scope, Send

from ..tenants import OPEN_TENANT, KeyRing, digest

PROTECTED = "/v1"
MAX_KEY_CHARS = 256


class BearerAuth:
    def __init__(self, app: ASGIApp, keys: KeyRing | None) -> None:
        self.app = app
        self.keys = keys  # None: the open mode, one tenant

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(PROTECTED):
            if self.keys is None:
                tenant: str | None = OPEN_TENANT
                key_id = OPEN_TENANT
            else:
                key = bearer_key(scope)
                if key is None:
                    await refuse(send, "send your API key as `Authorization: Bearer <key>`", "invalid_request")
                    return
                tenant = self.keys.tenant_of(key)
                if tenant is None:
                    await refuse(send, "unknown API key", "invalid_token")
                    return
                key_id = digest(key)[:32]  # names the key for the rate limit, never shows it
            state = scope.setdefault("state", {})
            state["tenant"], state["key_id"] = tenant, key_id
        await self.app(scope, receive, send)


def bearer_key(scope: Scope) -> str | None:
    """The key of a well-formed ``Authorization: Bearer <key>`` header, else None."""
    values = [v for k, v in scope["headers"] if k == b"authorization"]
    if len(values) != 1:
        return None
    scheme, _, key = values[0].decode("latin-1").partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key or len(key) > MAX_KEY_CHARS or not key.isprintable() or " " in key:
        return None
    return key


async def refuse(send: Send, detail: str, error: str) -> None:
    """401, with the challenge RFC 6750 asks for."""
    body = json.dumps({"detail": detail}).encode()
    await send({
        "type": "http.response.start", "status": 401,
        "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            (b"www-authenticate", f'Bearer realm="zoadamm", error="{error}"'.encode()),
        ],
    })
    await send({"type": "http.response.body", "body": body})
