"""The HTTP/1.1 protocol the service runs: uvicorn's (httptools), whose one answer of its own, the
400 to bytes that are no HTTP request it can read, comes in the API's JSON error form like every
other refusal (docs/api.md), where uvicorn answers it in plain text."""

from __future__ import annotations

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from .api.jsontext import FiniteJSON, error_response
from .api.pipeline import SECURITY_HEADERS

UNREADABLE = error_response(400, "invalid HTTP request: the bytes received are no HTTP/1.1 request the service can "
                                 "read (a malformed request line, header or chunk); the connection is closed")
# A method the parser does not know (FOO; PROPFIND and the like reach the app, which answers 405)
UNKNOWN_METHOD = error_response(501, "this request's method is none the service knows: its routes take GET, HEAD, "
                                     "POST and DELETE; the connection is closed")


class HttpProtocol(HttpToolsProtocol):
    def data_received(self, data: bytes) -> None:
        # uvicorn's, but for a method the parser does not know: a 501, as RFC 9110 asks, where
        # uvicorn answered it as bytes that are no HTTP request
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserInvalidMethodError:
            self._refuse(501, UNKNOWN_METHOD)
        except httptools.HttpParserError:
            self.logger.warning("Invalid HTTP request received.")
            self._refuse(400, UNREADABLE)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()

    def send_400_response(self, msg: str) -> None:
        self._refuse(400, UNREADABLE)

    def _refuse(self, status: int, answer: FiniteJSON) -> None:
        headers = [*self.server_state.default_headers, *SECURITY_HEADERS, *answer.raw_headers,
                   (b"connection", b"close")]
        self.transport.write(b"".join([STATUS_LINE[status], *(b"%s: %s\r\n" % pair for pair in headers), b"\r\n",
                                       answer.body]))
        self.transport.close()
