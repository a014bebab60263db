"""Every ``/v1`` call names its tenant with a key (``Authorization: Bearer <key>``); the tenant
travels with the request as ``request.state.tenant``.

A gate of the ``pipeline``, so it sees every call, the per-step tell included, before any route
runs.  ``/healthz``, ``/metrics``, the API docs and the dashboard's page stay open: they hold
no session data (the dashboard's data comes from ``/v1``).

Open (no keys) on loopback, a ``/v1`` call that came over a socket must be addressed to a
loopback name (``Host``: localhost, 127.0.0.1, [::1]) or one of ``ZOADAMM_OPEN_HOST_NAMES``: a
web page the user visits can point a name of its own at 127.0.0.1 (DNS rebinding) and call the
service from the browser, where its calls carry that name.  With keys it has no key; open beyond
loopback (``ZOADAMM_ALLOW_OPEN``), anyone may call anyway.
"""

from __future__ import annotations

import functools
import ipaddress

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
FOREIGN_HOST = ("this service runs open (no API keys) on loopback and answers /v1 calls addressed to localhost, "
                "127.0.0.1, [::1]{names} only, not Host {host!r}: call it at http://127.0.0.1:PORT, add the name "
                "to ZOADAMM_OPEN_HOST_NAMES, or set ZOADAMM_API_KEYS to serve any name")


class Authenticate:
    """Puts the caller's tenant and key id (a digest that names the key for the rate limit,
    never the key) on ``scope["state"]``; refuses a missing or unknown key with 401."""

    def __init__(self, keys: KeyRing | None, host_names: frozenset[str] | None = None) -> None:
        self.keys = keys  # None: the open mode, one tenant
        # the open mode on loopback: the names a call over a socket may give besides loopback's (None: any)
        self.host_names = host_names

    async def check(self, scope: Scope) -> Refusal | None:
        if not scope["path"].startswith(PROTECTED):
            return None
        if self.keys is None:
            if self.host_names is not None and over_a_socket(scope):
                # a browser always names the host; a call without the header is no page's
                host = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), None)
                name = "localhost" if host is None else host_name(host).lower()
                if not (name in self.host_names or is_loopback(name)):
                    names = "".join(f", {n}" for n in sorted(self.host_names))
                    return Refusal(403, FOREIGN_HOST.format(host=host, names=names))
            tenant, key_id = OPEN_TENANT, OPEN_TENANT
        else:
            given = [v for k, v in scope["headers"] if k == b"authorization"]
            if len(given) > 1:  # which one the client meant is not ours to guess
                return Refusal(401, f"send one Authorization header, not {len(given)}", challenge("invalid_request"))
            key = bearer_key(given[0]) if given else None
            if key is None:
                return MISSING
            found = self.keys.identify(key)
            if found is None:
                return UNKNOWN
            tenant, key_id = found
        state = scope.setdefault("state", {})
        state["tenant"], state["key_id"] = tenant, key_id
        return None


def bearer_key(header: bytes) -> str | None:
    """The key of a well-formed ``Authorization: Bearer <key>`` header's value, else None."""
    scheme, _, key = header.decode("latin-1").partition(" ")
    key = key.strip(" \t")  # HTTP's whitespace only: str.strip would take Latin-1's too
    if scheme.lower() != "bearer" or not key or len(key) > MAX_KEY_CHARS or not key.isprintable() or " " in key:
        return None
    return key


def over_a_socket(scope: Scope) -> bool:
    """Whether the call came in over an IP socket (a browser's could), not called in process
    (a test client's server is a name) or over a Unix socket."""
    server = scope.get("server")
    return server is not None and is_address(server[0])


def host_name(host: str) -> str:
    """A Host header's name or address, without its port ("[::1]:8000" -> "::1")."""
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.partition(":")[0] if host.count(":") == 1 else host


@functools.lru_cache(maxsize=256)  # on a call's path in the open mode, where a few names recur
def is_loopback(host: str) -> bool:
    """localhost, or an address of the loopback interface (an IPv6 one in brackets too)."""
    host = host.strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name other than localhost may resolve anywhere
        return False


@functools.lru_cache(maxsize=256)
def is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
