"""The workers' LeanTransport: httpx requests in one write each on one kept-alive connection,
answers read with http.client's parser."""

from __future__ import annotations

import http.server
import socket
import threading
import time
from contextlib import contextmanager

import httpx
import pytest

from zoadamm import Client
from zoadamm.sdk import APIConnectionError
from zoadamm_service.launch import free_port
from zoadamm_worker import transport
from zoadamm_worker.transport import LeanTransport


@contextmanager
def echo_server(close_after_each: bool = False, delay: float = 0.0):
    """An HTTP/1.1 server answering every request with its method, path and body; yields
    (url, connections) where connections counts the TCP connections it accepted."""
    connections: list[int] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self):
            connections.append(1)
            super().setup()

        def _answer(self):
            time.sleep(delay)
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            content = f"{self.command} {self.path} {self.headers.get('x-probe')} ".encode() + body
            self.send_response(200)
            self.send_header("content-type", "text/plain")
            self.send_header("content-length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)
            if close_after_each:  # closed without saying so, as an idle timeout does
                self.close_connection = True

        do_GET = do_POST = _answer

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", connections
    finally:
        server.shutdown()
        server.server_close()


def test_requests_share_one_connection():
    with echo_server() as (url, connections), httpx.Client(base_url=url, transport=LeanTransport()) as client:
        for k in range(3):
            answer = client.post(f"/a/{k}?q=1", content=b"body", headers={"x-probe": "yes"})
            assert answer.status_code == 200
            assert answer.content == f"POST /a/{k}?q=1 yes body".encode()
        assert client.get("/b").text == "GET /b None "
    assert len(connections) == 1


def test_a_connection_the_server_closed_is_opened_again():
    with echo_server(close_after_each=True) as (url, connections), \
            httpx.Client(base_url=url, transport=LeanTransport()) as client:
        assert [client.get(f"/{k}").text for k in range(3)] == [f"GET /{k} None " for k in range(3)]
    assert len(connections) == 3


def test_nothing_listening_is_a_connect_error():
    url = f"http://127.0.0.1:{free_port()}"
    with httpx.Client(base_url=url, transport=LeanTransport()) as client, pytest.raises(httpx.ConnectError):
        client.get("/healthz")
    with Client(url, transport=LeanTransport(), max_retries=0) as sdk, pytest.raises(APIConnectionError):
        sdk.health(retry=False)


def test_https_is_refused():
    with httpx.Client(transport=LeanTransport()) as client, pytest.raises(httpx.UnsupportedProtocol):
        client.get("https://127.0.0.1:1/")


def test_a_slow_answer_is_a_read_timeout():
    with echo_server(delay=1.0) as (url, _), \
            httpx.Client(base_url=url, transport=LeanTransport(), timeout=httpx.Timeout(0.2, connect=5)) as client:
        with pytest.raises(httpx.ReadTimeout):
            client.get("/slow")


class CountedSocket:
    """A socket that counts its writes."""

    def __init__(self, sock: socket.socket, writes: list[bytes]) -> None:
        self._sock, self._writes = sock, writes

    def sendall(self, data: bytes) -> None:
        self._writes.append(bytes(data))
        self._sock.sendall(data)

    def __getattr__(self, name: str):
        return getattr(self._sock, name)


def test_a_request_goes_out_in_one_write(monkeypatch):
    writes: list[bytes] = []
    connect = socket.create_connection
    monkeypatch.setattr(transport.socket, "create_connection", lambda *a, **k: CountedSocket(connect(*a, **k), writes))
    with echo_server() as (url, _), httpx.Client(base_url=url, transport=LeanTransport()) as client:
        for k in range(2):
            assert client.post(f"/w/{k}", content=b"x" * 5000).content == f"POST /w/{k} None ".encode() + b"x" * 5000
    assert len(writes) == 2  # head and body together: one packet each
    assert all(w.startswith(b"POST /w/") and w.endswith(b"\r\n\r\n" + b"x" * 5000) for w in writes)


def test_an_answer_cut_short_is_a_protocol_error():
    listener = socket.create_server(("127.0.0.1", 0))

    def answer_half() -> None:
        conn, _ = listener.accept()
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly this")
        conn.close()

    server = threading.Thread(target=answer_half, daemon=True)
    server.start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    with httpx.Client(base_url=url, transport=LeanTransport()) as client, pytest.raises(httpx.RemoteProtocolError):
        client.get("/cut")
    server.join(5)
    listener.close()
