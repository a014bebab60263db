"""The lean transport's answer parser: every framing RFC 9112 allows an answer, and the ways an
answer can be malformed or cut short, each a clear error."""

from __future__ import annotations

import io

import pytest

from zoadamm_worker.http_answer import MAX_LINE, BadAnswer, Disconnected, read_answer


def answer(raw: bytes, method: str = "POST"):
    return read_answer(io.BufferedReader(io.BytesIO(raw)), method)


def test_a_body_of_content_length_and_the_next_answer_after_it():
    reader = io.BufferedReader(io.BytesIO(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX-A:  b \r\n\r\nabc"
                                          b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n"))
    first, second = read_answer(reader, "POST"), read_answer(reader, "GET")
    assert (first.status, first.headers, first.content, first.will_close) == (
        200, [(b"Content-Length", b"3"), (b"X-A", b"b")], b"abc", False)
    assert (second.status, second.content) == (404, b"")


def test_chunks_with_extensions_and_a_trailer():
    got = answer(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                 b"4;name=x\r\nwiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nTrailer: t\r\n\r\n")
    assert got.content == b"wikipedia in\r\n\r\nchunks." and not got.will_close


def test_no_length_means_up_to_the_close():
    got = answer(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nall of it")
    assert got.content == b"all of it" and got.will_close


@pytest.mark.parametrize("raw, method", [
    (b"HTTP/1.1 204 No Content\r\ncontent-length: 5\r\n\r\n", "POST"),
    (b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n", "HEAD"),
    (b"HTTP/1.1 304 Not Modified\r\n\r\n", "GET"),
])
def test_answers_without_a_body(raw, method):
    assert answer(raw, method).content == b""


def test_interim_answers_are_skipped():
    got = answer(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
                 b"HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\nok")
    assert (got.status, got.content) == (201, b"ok")


@pytest.mark.parametrize("raw", [
    b"HTTP/1.0 200 OK\r\ncontent-length: 0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nConnection: Close\r\ncontent-length: 0\r\n\r\n",
])
def test_the_server_says_it_closes(raw):
    assert answer(raw).will_close


def test_nothing_at_all_is_a_disconnect():
    with pytest.raises(Disconnected):
        answer(b"")


@pytest.mark.parametrize("raw, says", [
    (b"SSH-2.0-OpenSSH\r\n", "status line"),
    (b"HTTP/1.1 2x0 OK\r\n\r\n", "status line"),
    (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "header line"),
    (b"HTTP/1.1 200 OK\r\ncontent-length: 3", "cut short"),
    (b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort", "cut short"),
    (b"HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n", "Content-Length"),
    (b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n", "chunk size"),
    (b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n", "CRLF"),
    (b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhel", "cut short"),
    (b"HTTP/1.1 200 OK\r\nx: " + b"a" * MAX_LINE + b"\r\n\r\n", "header line"),
])
def test_malformed_answers_are_refused(raw, says):
    with pytest.raises(BadAnswer, match=says):
        answer(raw)
