"""A client used in a child process after ``fork`` (multiprocessing's default on Linux): the
child would share the parent's open connections, and the two processes would read each other's
answers (another session's, or half of one).  A child's first call on such a client opens
connections of its own instead; a client given an httpx client or transport of the caller's
(which holds the connections) cannot, and says so.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable
from typing import TypeVar

from .errors import ClientClosedError

_clients: weakref.WeakSet = weakref.WeakSet()
HTTP = TypeVar("HTTP")


def watch(client) -> None:
    """Mark ``client.forked`` in every child process forked from now on."""
    client.forked = False
    _clients.add(client)


def _in_child() -> None:
    for client in list(_clients):
        client.forked = True


os.register_at_fork(after_in_child=_in_child)


def reopened(client, owned: bool, make_http: Callable[[], HTTP]) -> HTTP:
    """The httpx client that ``client`` uses in this process from now on (a new one, the parent's
    left to the parent).

    Raises:
        ClientClosedError: the httpx client or transport was given (``http_client=``,
            ``transport=``), and is the parent's.
    """
    if not owned:
        raise ClientClosedError(f"this {type(client).__name__} was made in another process, which this one was forked "
                                "from, with the http_client or transport given then: make the client in this process")
    client.forked = False
    client._urls = {}
    return make_http()
