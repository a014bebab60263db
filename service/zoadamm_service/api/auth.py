"""Every ``/v1`` call names its tenant with a key (``Authorization: Bearer <key>``); the tenant
travels with the request as ``request.state.tenant``.

A gate of the ``pipeline``, so it sees every call, the per-step tell included, before any route
runs.  ``/healthz``, ``/metrics``, the API docs and the dashboard's page stay open: they hold
no session data (the dashboard's data comes from ``/v1``).
"""

from __future__ import annotations

from starlette.types import Scope

from ..tenants import OPEN_TENANT, KeyRing
from .pipeline import Refusal

PROTECTED = "/v1"
MAX_KEY_CHARS = 256


def challenge(error: str) -> tuple[tuple[bytes, bytes], ...]:
    """The ``WWW-Authenticate`` header RFC 6750 asks a 401 to carry."""
    return ((b"www-authenticate", f'Bearer realm="zoadamm", error="{error}"'.encode()),)


MISSING = Refusal(401, "send your API key as `Authorization: Bearer <key>`", challenge("invalid_request"))
UNKNOWN = Refusal(401, "unknown API key", challenge("invalid_token"))


class Authenticate:
    """Puts the caller's tenant and key id (a digest that names the key for the rate limit,
    never the key) on ``scope["state"]``; refuses a missing or unknown key with 401."""

    def __init__(self, keys: KeyRing | None) -> None:
        self.keys = keys  # None: the open mode, one tenant

    async def check(self, scope: Scope) -> Refusal | None:
        if not scope["path"].startswith(PROTECTED):
            return None
        if self.keys is None:
            tenant, key_id = OPEN_TENANT, OPEN_TENANT
        else:
            key = bearer_key(scope)
            if key is None:
                return MISSING
            found = self.keys.identify(key)
            if found is None:
                return UNKNOWN
            tenant, key_id = found
        state = scope.setdefault("state", {})
        state["tenant"], state["key_id"] = tenant, key_id
        return None


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
