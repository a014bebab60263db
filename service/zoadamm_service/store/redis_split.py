"""The Redis store's calls of split and shared steps: a worker's part of the open step, and
leases of its directions (``Store.add_partials``, ``lease``, ``add_partials_and_lease``), each
one Lua script of ``split_scripts`` on one session's keys."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from .. import keys
from ..errors import Conflict, NotFound, SessionReplaced
from . import replies, scripts, split_scripts
from .base import Leased
from .faults import translate_errors
from .replication import Replication


class SplitSteps:
    """Mixed into ``RedisStore``, whose client, idle TTL and replication these use."""

    ttl_s: int
    _replication: Replication
    _tag_of: Callable[[str], Awaitable[str]]

    def _register_split_scripts(self, client: Any) -> None:
        self._add_partials = client.register_script(split_scripts.ADD_PARTIALS)
        self._lease = client.register_script(split_scripts.LEASE)
        self._add_partials_and_lease = client.register_script(split_scripts.ADD_PARTIALS_AND_LEASE)

    @translate_errors
    async def add_partials(self, session_id: str, step: int, parts: dict[int, str],
                           created: float | None = None) -> dict[int, str]:
        reply = await self._add_partials(
            keys=[keys.meta(session_id), keys.partials(session_id)],
            args=[self.ttl_s, replies.created_arg(created), *replies.part_args(step, parts)])
        _refused(session_id, reply)
        # a part answered 202 is acknowledged work
        await self._replication.confirm_parts(session_id, 0, step, parts)
        return replies.parts(step, reply)

    @translate_errors
    async def add_partials_and_lease(self, session_id: str, step: int, parts: dict[int, str], seq: int,
                                     directions: int, count: int, holder: str, seconds: float,
                                     created: float | None = None,
                                     tag: str | None = None) -> tuple[dict[int, str], Leased | None]:
        reply = await self._add_partials_and_lease(
            keys=[keys.meta(session_id), keys.partials(session_id), keys.leases(session_id)],
            args=[self.ttl_s, seq, step + 1, directions, count, holder, repr(float(seconds)),
                  replies.created_arg(created), await self._tag_of(session_id) if tag is None else tag,
                  *replies.part_args(step, parts)])
        _refused(session_id, reply)
        parts_so_far, leased = reply
        await self._replication.confirm_parts(session_id, seq, step, parts)
        return replies.parts(step, parts_so_far), None if leased[0] != 0 else replies.leased(leased, seconds)

    @translate_errors
    async def lease(self, session_id: str, seq: int, step: int, directions: int, count: int,
                    holder: str, seconds: float, created: float | None = None, tag: str | None = None) -> Leased:
        reply = await self._lease(
            keys=[keys.meta(session_id), keys.partials(session_id), keys.leases(session_id)],
            args=[seq, step, directions, count, holder, repr(float(seconds)), self.ttl_s, replies.created_arg(created),
                  await self._tag_of(session_id) if tag is None else tag],
        )
        if reply[0] == scripts.NOT_FOUND:
            raise NotFound.session(session_id)
        if reply[0] == scripts.REPLACED:
            raise SessionReplaced(session_id)
        if reply[0] == scripts.MOVED:
            raise Conflict("the session moved on", head=int(reply[1]))
        return replies.leased(reply, seconds)


def _refused(session_id: str, reply: Any) -> None:
    """A part's script answers nothing for a session gone and {REPLACED} for one made anew."""
    if reply is None:
        raise NotFound.session(session_id)
    if reply and reply[0] == scripts.REPLACED:
        raise SessionReplaced(session_id)
