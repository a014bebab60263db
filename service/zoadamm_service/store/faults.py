"""What a Redis that fails looks like to the store's callers: a 503 (``StoreUnavailable``) within
the call's budget of waiting, never a 500, and one more try on a fresh connection for a command
that a restarted Redis never received."""

from __future__ import annotations

import functools
import logging
import os
import socket
import traceback

from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import AskError, RedisClusterException, RedisError
from redis.exceptions import ConnectionError as RedisConnectionError

from ..errors import StoreUnavailable
from . import budget

log = logging.getLogger("zoadamm.service")

# A pooled connection that a restarted Redis closed fails on its next command, which never
# reached the new server: that command is sent once more on a fresh connection.  A timeout is
# not retried: a hung Redis must answer 503 within the call's budget, not twice that.
ONE_RECONNECT = Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,))


def translate_errors(method):
    """A store that does not answer, or answers with an error, is a 503, never a 500; every
    call spends the HTTP call's budget of waiting (``budget``)."""

    @functools.wraps(method)
    async def wrapper(*args, **kwargs):
        try:
            async with budget.waiting("Redis"):
                return await method(*args, **kwargs)
        except budget.BudgetSpent as spent:  # a cluster retries CLUSTERDOWN until the budget is spent
            if not getattr(args[0], "cluster", False):
                raise
            raise budget.BudgetSpent(f"{spent.message}; a Redis Cluster with a master down makes every call wait "
                                     "so (/healthz answers 503 then)") from None
        # connection, timeout, a cluster in a failover or out of reach (redis-py's cluster
        # errors are not all RedisErrors), any error reply
        except (RedisError, RedisClusterException, OSError) as exc:
            raise StoreUnavailable(_unavailable(exc)) from exc
        except (AttributeError, TypeError, RuntimeError) as exc:
            if not write_on_closed_connection(exc):
                raise
            raise StoreUnavailable(f"Redis is unavailable: the connection closed: {exc}") from exc

    return wrapper


def _unavailable(exc: BaseException) -> str:
    said = f"Redis is unavailable: {type(exc).__name__}: {exc}"
    if isinstance(exc, AskError):  # MOVED or ASK: a cluster's node, which the cluster client follows
        return f"{said} (a node of a Redis Cluster: ZOADAMM_REDIS_CLUSTER=true follows its slots)"
    return said


# Where redis-py's asyncio connection sends a command.  A write on a connection the server has
# just closed (a master killed in a failover) can fail there with the event loop's own error
# (no writer left, or a closed transport) instead of redis-py's ConnectionError; redis-py has
# already dropped the connection by then, so a retry takes a fresh one.
_SEND_FRAMES = ("send_packed_command", "_send_packed_command")


def write_on_closed_connection(exc: BaseException) -> bool:
    frames = traceback.extract_tb(exc.__traceback__)
    return any(f.name in _SEND_FRAMES and f"redis{os.sep}asyncio{os.sep}connection" in f.filename for f in frames)


def said_briefly(loop, context: dict) -> None:
    """The event loop's handler of errors no task reads: a name lookup of Redis's host that a call's
    budget cancelled (its connect abandoned) may fail later, in a future nobody awaits; asyncio
    logged each one with its traceback, every few seconds while Redis's name does not resolve.
    That is one line; everything else goes to asyncio's own handler."""
    error = context.get("exception")
    if isinstance(error, socket.gaierror) and "never retrieved" in context.get("message", ""):
        log.warning("a name lookup that a cancelled call left behind failed: %s", error)
        return
    loop.default_exception_handler(context)
