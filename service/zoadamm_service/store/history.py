"""Which history a session's journal holds: its tag.

Every append chains its event into the session's tag (``chained``), so a tag names the whole
history up to the head.  A Redis that lost acknowledged steps (a crash between snapshots, a
failover to a replica behind) and took as many others since has the step count of a service
replica's copy of the lost ones, never its tag: the copy is not taken for the session.  The append
refuses it (``Conflict``), and a read answers from the checkpoint instead.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import NamedTuple


class Head(NamedTuple):
    """Where a session's journal is: how many events, and the tag of their history."""

    seq: int
    tag: str  # "" before the first event


def chained(tag: str, events: Iterable[bytes]) -> str:
    """The tag of the history ``tag`` once it took ``events``."""
    for event in events:
        tag = hashlib.blake2b(event, digest_size=8, key=bytes.fromhex(tag)).hexdigest()
    return tag
