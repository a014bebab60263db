"""The workers' HTTP transport: ``LeanTransport`` writes httpx requests to a socket of its own
and reads the answers with a parser of its own (``http_answer``), for a worker that makes one
small request after another to a plain-http service (a worker that shares a session makes one
per step).  One kept-alive connection, requests one at a time, each in one write, no TLS and no
proxy.  httpx's own transport (httpcore and h11) costs more CPU per request
(``benchmarks/bench_client_tell.py``).

    Client(url, transport=LeanTransport())   # http:// URLs only
    lean_client(url)                          # the lean transport on http, httpx's own on https

Failures become httpx's exceptions, which the SDK's ``Client`` retries with its backoff as it
does for any transport.  The one request this transport sends again itself is one that found its
kept-alive connection closed by the service while idle (a keep-alive timeout, no answer given):
once, at once, on a new connection, where a backoff meant for a failing service would only wait.
"""

from __future__ import annotations

import socket
import threading
from typing import BinaryIO

import httpx

from zoadamm import Client

from .http_answer import BadAnswer, Disconnected, read_answer


class LeanTransport(httpx.BaseTransport):
    def __init__(self) -> None:
        self._socket: socket.socket | None = None
        self._reader: BinaryIO | None = None
        self._address: tuple[str, int] | None = None
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme != "http":
            raise httpx.UnsupportedProtocol(f"LeanTransport sends plain http only, not {url.scheme}", request=request)
        timeouts = request.extensions.get("timeout", {})
        # httpx has set Host, Content-Length and Accept-Encoding among the headers.  Head and body
        # go in one write: one packet (http.client wrote them apart: two).
        message = b"".join([request.method.encode("ascii"), b" ", url.raw_path, b" HTTP/1.1\r\n",
                            *(b"%s: %s\r\n" % pair for pair in request.headers.raw), b"\r\n", request.read()])
        with self._lock:
            for attempt in (0, 1):
                kept = self._socket is not None
                try:
                    reader = self._connect(url.host, url.port or 80, timeouts, message)
                    answer = read_answer(reader, request.method)
                except TimeoutError as error:
                    self.close()
                    raise httpx.ReadTimeout(str(error) or "timed out", request=request) from error
                except (Disconnected, ConnectionResetError, BrokenPipeError) as error:
                    self.close()
                    if kept and attempt == 0:
                        continue  # closed while idle, nothing answered: once more on a new connection
                    raise httpx.RemoteProtocolError(str(error) or type(error).__name__, request=request) from error
                except OSError as error:
                    self.close()
                    raise httpx.ConnectError(str(error) or type(error).__name__, request=request) from error
                except BadAnswer as error:
                    self.close()
                    raise httpx.RemoteProtocolError(str(error), request=request) from error
                if answer.will_close:
                    self.close()
                return httpx.Response(answer.status, headers=answer.headers, content=answer.content,
                                      extensions={"http_version": b"HTTP/1.1"})
        raise AssertionError("unreachable")

    def _connect(self, host: str, port: int, timeouts: dict, message: bytes) -> BinaryIO:
        """Send ``message`` on the kept connection, or on a new one; returns its reader."""
        if self._socket is None or self._address != (host, port):
            self.close()
            # within the connect timeout; the answers within the read timeout
            sock = socket.create_connection((host, port), timeout=timeouts.get("connect"))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.settimeout(timeouts.get("read"))
            self._socket, self._reader, self._address = sock, sock.makefile("rb"), (host, port)
        assert self._reader is not None
        self._socket.sendall(message)
        return self._reader

    def close(self) -> None:
        if self._socket is not None:
            assert self._reader is not None
            self._reader.close()
            self._socket.close()
            self._socket = self._reader = None


# How long a worker's call keeps asking a service that is away (no connection, 502/503/504):
# `docker compose restart service`, which rotating keys takes, outlasts the SDK's five tries.
SERVICE_WAIT_S = 120.0


def lean_client(service_url: str, **kwargs) -> Client:
    """A ``Client`` for one request after another, as the workers make them: the lean transport on
    plain http, httpx's own on https.  ``retry_window`` (seconds; see ``SERVICE_WAIT_S``) is the
    SDK's default, 0, unless given."""
    lean = service_url.startswith("http://")
    return Client(service_url, transport=LeanTransport() if lean else None, **kwargs)
