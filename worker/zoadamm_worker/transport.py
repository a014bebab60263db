"""The workers' HTTP transport: ``LeanTransport`` sends httpx requests over the standard
library's ``http.client``, for a worker that makes one small request after another to a
plain-http service (a worker that shares a session makes one per step).  One kept-alive
connection, requests one at a time, no TLS and no proxy.  httpx's own transport (httpcore and
h11) spends several times its CPU per request.

    Client(url, transport=LeanTransport())   # http:// URLs only
    lean_client(url)                          # the lean transport on http, httpx's own on https

Failures become httpx's exceptions, which the SDK's ``Client`` retries with its backoff as it
does for any transport.  The one request this transport sends again itself is one that found its
kept-alive connection closed by the service while idle (a keep-alive timeout, no answer given):
once, at once, on a new connection, where a backoff meant for a failing service would only wait.
"""

from __future__ import annotations

import http.client
import socket
import threading

import httpx

from zoadamm import Client

RESET = (http.client.RemoteDisconnected, http.client.BadStatusLine, ConnectionResetError, BrokenPipeError)


class LeanTransport(httpx.BaseTransport):
    def __init__(self) -> None:
        self._connection: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme != "http":
            raise httpx.UnsupportedProtocol(f"LeanTransport sends plain http only, not {url.scheme}", request=request)
        timeouts = request.extensions.get("timeout", {})
        body = request.read()
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw]
        with self._lock:
            for attempt in (0, 1):
                kept = self._connection is not None and self._connection.sock is not None
                try:
                    connection = self._connect(url.host, url.port or 80, timeouts)
                    # httpx has set Host, Content-Length and Accept-Encoding among the headers
                    connection.putrequest(request.method, url.raw_path.decode("ascii"), skip_host=True,
                                          skip_accept_encoding=True)
                    for name, value in headers:
                        connection.putheader(name, value)
                    connection.endheaders(body or None)
                    response = connection.getresponse()
                    content = response.read()
                except TimeoutError as error:
                    self.close()
                    raise httpx.ReadTimeout(str(error) or "timed out", request=request) from error
                except RESET as error:
                    self.close()
                    if kept and attempt == 0:
                        continue  # closed while idle, nothing answered: once more on a new connection
                    raise httpx.RemoteProtocolError(str(error) or type(error).__name__, request=request) from error
                except OSError as error:
                    self.close()
                    raise httpx.ConnectError(str(error) or type(error).__name__, request=request) from error
                if response.will_close:
                    self.close()
                return httpx.Response(response.status, headers=response.getheaders(),
                                      stream=httpx.ByteStream(content), extensions={"http_version": b"HTTP/1.1"})
        raise AssertionError("unreachable")

    def _connect(self, host: str, port: int, timeouts: dict) -> http.client.HTTPConnection:
        connection = self._connection
        if connection is None or (connection.host, connection.port) != (host, port):
            self.close()
            connection = self._connection = http.client.HTTPConnection(host, port, timeout=timeouts.get("connect"))
        if connection.sock is None:
            connection.connect()  # within the connect timeout; the answers within the read timeout
            if connection.sock is not None:
                connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                connection.sock.settimeout(timeouts.get("read"))
        return connection

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def lean_client(service_url: str, **kwargs) -> Client:
    """A ``Client`` for one request after another, as the workers make them: the lean transport on
    plain http (a quarter of httpx's CPU per request), httpx's own on https."""
    lean = service_url.startswith("http://")
    return Client(service_url, transport=LeanTransport() if lean else None, **kwargs)
