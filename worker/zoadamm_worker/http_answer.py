"""Reading one HTTP/1.1 answer from a kept-alive connection, for ``LeanTransport``: the status,
the headers as bytes, and the body framed as RFC 9112 says (no body for HEAD, 1xx, 204 and 304;
else chunked, else Content-Length, else up to the close).  The standard library's
``http.client`` parses headers through the email package; the few an answer of the service
carries are read here directly (what that saves per tell: ``benchmarks/bench_client_tell.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO

MAX_LINE = 1 << 16  # longer status or header lines are refused, as http.client refuses them
MAX_HEADERS = 100
_HEX = b"0123456789abcdefABCDEF"


class Disconnected(ConnectionError):
    """The connection closed before the answer's first byte."""


class BadAnswer(ValueError):
    """Bytes that are not an HTTP/1.1 answer, or one cut short."""


@dataclass(frozen=True)
class Answer:
    status: int
    headers: list[tuple[bytes, bytes]]
    content: bytes
    will_close: bool  # the server closes the connection after it


def read_answer(reader: BinaryIO, method: str) -> Answer:
    """The next answer on ``reader`` (a buffered reader of the socket), its 1xx answers skipped.

    Raises:
        Disconnected: nothing came before the connection closed.
        BadAnswer: a malformed status or header line, or a body shorter than announced.
    """
    while True:
        line = reader.readline(MAX_LINE + 1)
        if not line:
            raise Disconnected("the connection closed before an answer")
        version, _, rest = line.partition(b" ")
        code = rest[:3]
        if not (version.startswith(b"HTTP/1.") and code.isdigit() and len(line) <= MAX_LINE):
            raise BadAnswer(f"not an HTTP/1.1 status line: {line[:80]!r}")
        headers = _headers(reader)
        status = int(code)
        if status >= 200 or status == 101:
            break
    fields = {name.lower(): value for name, value in headers}
    closes = version == b"HTTP/1.0" or b"close" in fields.get(b"connection", b"").lower()
    if method == "HEAD" or status < 200 or status in (204, 304):
        return Answer(status, headers, b"", closes)
    if b"chunked" in fields.get(b"transfer-encoding", b"").lower():
        return Answer(status, headers, _chunks(reader), closes)
    if b"content-length" in fields:
        length = fields[b"content-length"]
        if not length.strip().isdigit():
            raise BadAnswer(f"bad Content-Length {length[:40]!r}")
        return Answer(status, headers, _exactly(reader, int(length)), closes)
    return Answer(status, headers, reader.read(), True)  # framed by the close


def _headers(reader: BinaryIO) -> list[tuple[bytes, bytes]]:
    headers: list[tuple[bytes, bytes]] = []
    while True:
        line = reader.readline(MAX_LINE + 1)
        if line in (b"\r\n", b"\n"):
            return headers
        name, colon, value = line.partition(b":")
        if not colon or not name or len(line) > MAX_LINE or len(headers) >= MAX_HEADERS:
            raise BadAnswer(f"bad header line {line[:80]!r}" if line else "the answer's headers were cut short")
        headers.append((name.strip(), value.strip()))


def _exactly(reader: BinaryIO, size: int) -> bytes:
    data = reader.read(size)
    if len(data) != size:
        raise BadAnswer(f"the answer's body was cut short: {len(data)} of {size} bytes")
    return data


def _chunks(reader: BinaryIO) -> bytes:
    parts: list[bytes] = []
    while True:
        line = reader.readline(MAX_LINE + 1)
        size_text = line.split(b";", 1)[0].strip()
        if not size_text or size_text.strip(_HEX) or len(line) > MAX_LINE:
            raise BadAnswer(f"bad chunk size line {line[:40]!r}")
        size = int(size_text, 16)
        if size == 0:
            _headers(reader)  # the trailer, up to its blank line
            return b"".join(parts)
        parts.append(_exactly(reader, size))
        if _exactly(reader, 2) != b"\r\n":
            raise BadAnswer("a chunk does not end with CRLF")
