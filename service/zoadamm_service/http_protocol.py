"""The HTTP/1.1 protocol the service runs: uvicorn's (httptools), whose one answer of its own, the
400 to bytes that are no HTTP request it can read, comes in the API's JSON error form like every
other refusal (docs/api.md), where uvicorn answers it in plain text."""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from .api.jsontext import error_response
from .api.pipeline import SECURITY_HEADERS

UNREADABLE = error_response(400, "invalid HTTP request: the bytes received are no HTTP/1.1 request the service can "
                                 "read (a malformed request line, header or chunk); the connection is closed")


class HttpProtocol(HttpToolsProtocol):
    def send_400_response(self, msg: str) -> None:
        headers = [*self.server_state.default_headers, *SECURITY_HEADERS, *UNREADABLE.raw_headers,
                   (b"connection", b"close")]
        self.transport.write(b"".join([STATUS_LINE[400], *(b"%s: %s\r\n" % pair for pair in headers), b"\r\n",
                                       UNREADABLE.body]))
        self.transport.close()
