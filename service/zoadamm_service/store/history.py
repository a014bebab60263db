"""Which history a session's journal holds: its tag.

Every append chains its event into the session's tag (``chained``), so a tag names the whole
history up to the head.  A Redis that lost acknowledged steps (a crash between snapshots, a
failover to a replica behind) and took as many others since has the step count of a service
replica's copy of the lost ones, never its tag: the copy is not taken for the session.  The append
refuses it (``Conflict``), and a read answers from the checkpoint instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from hashlib import blake2b
from typing import NamedTuple


class Head(NamedTuple):
    """Where a session's journal is: how many events, and the tag of their history."""

    seq: int
    tag: str  # "" before the first event


def next_tag(tag: str, event: bytes) -> str:
    """The tag of the history ``tag`` once it took ``event`` (an append's, on the per-step path)."""
    return blake2b(event, digest_size=8, key=bytes.fromhex(tag)).hexdigest()


def chained(tag: str, events: Iterable[bytes]) -> str:
    """The tag of the history ``tag`` once it took ``events``."""
    for event in events:
        tag = next_tag(tag, event)
    return tag
