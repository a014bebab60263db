"""Victim requests that a stopped run cuts off: Ctrl-C (or a failure of another image) ends a run
at once, not when the slowest answer in flight comes (up to the victim's timeout, 60 s).

httpx has no way to cancel a blocking call from another thread.  Shutting the call's socket
does it: the blocked read returns, and the call raises.  ``Sockets`` is the network backend that
keeps the sockets it opens for that; ``transport()`` makes httpx's own transport over a pool
with it.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from typing import Protocol

import httpcore
import httpx


class Sockets(httpcore.SyncBackend):
    """httpcore's blocking backend, keeping the sockets it opens; ``abort`` shuts them all and
    refuses new ones."""

    def __init__(self) -> None:
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        self.aborted = False

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        stream = super().connect_tcp(host, port, timeout, local_address, socket_options)
        with self._lock:
            if self.aborted:
                stream.close()
                raise httpcore.ConnectError("the run was stopped")
            self._open = [s for s in self._open if s.fileno() != -1]  # closed ones go
            self._open.append(stream.get_extra_info("socket"))
        return stream

    def abort(self) -> None:
        with self._lock:
            self.aborted = True
            sockets, self._open = self._open, []
        for sock in sockets:
            with contextlib.suppress(OSError):  # closed meanwhile
                sock.shutdown(socket.SHUT_RDWR)


def transport(sockets: Sockets) -> httpx.HTTPTransport:
    """httpx's transport, its pool made again over ``sockets`` with httpx's default limits.  The
    pool is the transport's one private attribute used here (httpx is pinned in constraints.txt,
    and tests/attack/test_victim.py stops a call in flight through it)."""
    made = httpx.HTTPTransport()
    made._pool = httpcore.ConnectionPool(ssl_context=httpx.create_ssl_context(), max_connections=100,
                                         max_keepalive_connections=20, keepalive_expiry=5.0,
                                         network_backend=sockets)
    return made


class Abortable(Protocol):
    def abort(self) -> None: ...


class RunEnd:
    """The end of a run for the images in flight: once set, none sends another query, and the
    answers they wait for are cut off (``watching``'s clients aborted)."""

    def __init__(self) -> None:
        self._set = threading.Event()
        self._lock = threading.Lock()
        self._watched: set[Abortable] = set()

    def is_set(self) -> bool:
        return self._set.is_set()

    def set(self) -> None:
        with self._lock:
            self._set.set()
            watched = list(self._watched)
        for client in watched:
            client.abort()

    @contextlib.contextmanager
    def watching(self, client: Abortable) -> Iterator[None]:
        """``client`` aborted when the run stops while this block runs (at once if it has)."""
        with self._lock:
            self._watched.add(client)
        if self.is_set():
            client.abort()
        try:
            yield
        finally:
            with self._lock:
                self._watched.discard(client)
