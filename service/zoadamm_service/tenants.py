"""Who is calling: API keys, the tenants they name, and the open mode.

The service is configured with ``ZOADAMM_API_KEYS``, a comma-separated list of
``tenant:sha256hex`` entries, the hex being the SHA-256 of a key.  Keys themselves are never
stored or logged; a presented key is hashed and compared with every digest in constant time.
Without ``ZOADAMM_API_KEYS`` the service runs open, as the one tenant ``OPEN_TENANT``: for one
person on 127.0.0.1 (``make demo``, the tests of the math).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

OPEN_TENANT = "open"
# A key of the open mode's tenant reaches what was made without keys: said wherever it is given.
OPEN_TENANT_NOTE = (f"tenant {OPEN_TENANT!r} is the open mode's: its key reaches the sessions made while the "
                    "service ran without keys, and a service run open again on the same Redis shows this "
                    "tenant's sessions to anyone who reaches it")
TENANT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
DIGEST = re.compile(r"[0-9a-f]{64}")
KEY_BYTES = 32  # 256 bits of randomness per key


class KeyConfigError(ValueError):
    """``ZOADAMM_API_KEYS`` is malformed; the message says which entry and why."""


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    """A fresh random key: 256 bits, URL-safe text."""
    return "zk_" + secrets.token_urlsafe(KEY_BYTES)


def entry(tenant: str, key: str) -> str:
    """The ``ZOADAMM_API_KEYS`` entry that lets ``key`` act as ``tenant``."""
    if not TENANT_NAME.fullmatch(tenant):
        raise KeyConfigError(f"tenant names are 1-64 of A-Z a-z 0-9 _ . - (starting alphanumeric), not {tenant!r}")
    return f"{tenant}:{digest(key)}"


class KeyRing:
    """The configured keys, as (digest, tenant) pairs."""

    def __init__(self, entries: list[tuple[str, str]]) -> None:
        self._entries = entries

    @classmethod
    def parse(cls, text: str) -> KeyRing:
        """Raises KeyConfigError for an entry that is not ``tenant:sha256hex``."""
        entries: list[tuple[str, str]] = []
        for number, item in enumerate((part.strip() for part in text.split(",")), 1):
            if not item:
                continue
            tenant, _, hexdigest = item.partition(":")
            if not TENANT_NAME.fullmatch(tenant) or not DIGEST.fullmatch(hexdigest.lower()):
                # never echo the entry: it may be a key pasted by mistake
                raise KeyConfigError(f"ZOADAMM_API_KEYS entry {number} is not tenant:sha256hex "
                                     "(64 hex digits; `zoadamm-service keys new TENANT` prints one)")
            holder = next((t for d, t in entries if d == hexdigest.lower()), None)
            if holder is not None and holder != tenant:  # one key, two tenants: whose sessions would it see?
                raise KeyConfigError(f"ZOADAMM_API_KEYS entry {number} gives tenant {tenant!r} the key of tenant "
                                     f"{holder!r}: a key names one tenant")
            entries.append((hexdigest.lower(), tenant))
        if not entries:
            raise KeyConfigError("ZOADAMM_API_KEYS is set but holds no entry")
        return cls(entries)

    def tenant_of(self, key: str) -> str | None:
        """The tenant whose key this is, or None."""
        found = self.identify(key)
        return None if found is None else found[0]

    def identify(self, key: str) -> tuple[str, str] | None:
        """(tenant, key id) of this key, or None; the key id (half its digest) names the key for
        the rate limit and never shows it.  Every digest is compared, each in constant time, so
        the time taken says nothing about which entry came close."""
        presented = digest(key)
        found = None
        for known, tenant in self._entries:
            if hmac.compare_digest(known, presented):
                found = tenant
        return None if found is None else (found, presented[:32])

    @property
    def tenants(self) -> set[str]:
        return {tenant for _, tenant in self._entries}
