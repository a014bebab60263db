"""Session ids and the keys that make a POST exactly-once.

A session id is 32 lowercase hex digits, checked before anything touches the store, so no id
can reach another session's keys.  A create sent with an Idempotency-Key gets the id that key
names (a digest of the tenant and the key), so a repeat finds the session it made.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from ..store.base import Idempotent

SESSION_ID = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class RequestKey:
    """A POST's Idempotency-Key, scoped to its tenant, and a digest of what it asked."""

    key: str  # digest of (tenant, header value)
    request: str  # digest of the method, path and decoded body

    def record(self, answer: str, ttl_s: int) -> Idempotent:
        """What the store keeps with the change: this key, the request and its first answer."""
        return Idempotent(self.key, self.request, answer, ttl_s)


def is_session_id(text: str) -> bool:
    return SESSION_ID.fullmatch(text) is not None


def session_id_for(tenant: str, key: str) -> str:
    return hashlib.blake2b(f"{tenant}\n{key}".encode(), digest_size=16, person=b"zoadamm-session").hexdigest()
