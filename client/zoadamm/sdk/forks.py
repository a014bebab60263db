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
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from .errors import ClientClosedError

_clients: weakref.WeakSet = weakref.WeakSet()
HTTP = TypeVar("HTTP")


def watch(client) -> None:
    """Mark ``client.forked`` in every child process forked from now on."""
    client.forked = False
    _clients.add(client)


class OneThread:
    """A pool of one thread, for a process and its forked children: the parent's thread is not in
    a child, where a task it had queued or running would never end (a mirrored run's next tell
    waited on it forever).  At the fork the child gets a pool of its own, and such a task fails
    there: whether it ends is the parent's affair."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._tasks: weakref.WeakSet[Future] = weakref.WeakSet()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix=name)
        _pools.add(self)

    def submit(self, fn: Callable, *args, **kwargs) -> Future:
        task = self._pool.submit(fn, *args, **kwargs)
        self._tasks.add(task)
        return task

    def shutdown(self) -> None:
        self._pool.shutdown()

    def _forked(self) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix=self._name)
        for task in list(self._tasks):
            if not task.done():
                task.set_exception(ClientClosedError("sent on a thread of the process this one was forked from, "
                                                     "which finishes it: its outcome is unknown here"))


_pools: weakref.WeakSet = weakref.WeakSet()


def _in_child() -> None:
    for client in list(_clients):
        client.forked = True
    for pool in list(_pools):
        pool._forked()


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
