"""The bytes of request bodies one process holds at once are bounded
(``ZOADAMM_MAX_BODY_BYTES_IN_FLIGHT``): clients that send most of a large body and stall get
that room and no more, and the next body past it gets 503 with Retry-After at once; a
Content-Length alone holds nothing; a body of a media type the service does not read is refused
from its headers, before a byte of it is read.  Over real sockets, against a service process."""

from __future__ import annotations

import json
import socket
import urllib.request

import pytest

from zoadamm_service.launch import ServiceProcess
from zoadamm_service.tenants import entry

BODY = 300_000  # each stalled body's Content-Length: three fit in 1 MB, a fourth does not
CREATE = b'{"dim": 2}'  # what each body holds, then spaces


@pytest.fixture(scope="module")
def service():
    with ServiceProcess(env={"ZOADAMM_MAX_BODY_BYTES_IN_FLIGHT": str(1_000_000),
                             "ZOADAMM_MAX_BODY_BYTES": str(500_000), "ZOADAMM_BODY_TIMEOUT_S": "20"}) as process:
        yield process.port


def _stalled(port: int, length: int, content_type: str = "application/json", key: str | None = None) -> socket.socket:
    """A POST that sends its headers and all but the last byte of a ``length``-byte body."""
    sock = socket.create_connection(("127.0.0.1", port))
    auth = f"Authorization: Bearer {key}\r\n" if key else ""
    sock.sendall(f"POST /v1/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n{auth}"
                 f"Content-Length: {length}\r\n\r\n".encode() + CREATE + b" " * (length - 1 - len(CREATE)))
    return sock


def _answer(sock: socket.socket) -> tuple[int, dict, bytes]:
    data = b""
    while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < _length(data):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body


def _length(data: bytes) -> int:
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        name, _, value = line.partition(b": ")
        if name.lower() == b"content-length":
            return int(value)
    return 0


def _create(port: int) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/sessions", data=json.dumps({"dim": 2}).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request) as answer:
            return answer.status
    except urllib.error.HTTPError as refused:
        return refused.code


def test_stalled_bodies_hold_their_room_and_no_more(service):
    stalled = [_stalled(service, BODY) for _ in range(3)]
    try:
        _create(service)  # answered once the three are being received
        fourth = _stalled(service, BODY)
        status, headers, body = _answer(fourth)
        fourth.close()
        assert status == 503 and headers["retry-after"]
        assert "ZOADAMM_MAX_BODY_BYTES_IN_FLIGHT" in json.loads(body)["detail"]
        assert _create(service) == 201  # a small body still fits beside them
    finally:
        for sock in stalled:
            sock.close()
    while _create(service) != 201:  # their room comes back as the server sees them gone
        pass
    room = [_stalled(service, BODY) for _ in range(3)]  # all three fit again
    try:
        for sock in room:
            sock.sendall(b" ")  # the last byte
            assert _answer(sock)[0] == 201
    finally:
        for sock in room:
            sock.close()


def test_one_tenants_stalled_bodies_leave_the_others_room():
    """Where several tenants use the process, one tenant's bodies hold at most half of the room:
    its stalled uploads get 503 past that, and another tenant's bodies still fit."""
    keys = {tenant: tenant[0] * 40 for tenant in ("alice", "bob")}
    env = {"ZOADAMM_MAX_BODY_BYTES_IN_FLIGHT": str(1_000_000), "ZOADAMM_MAX_BODY_BYTES": str(400_000),
           "ZOADAMM_BODY_TIMEOUT_S": "20", "ZOADAMM_API_KEYS": ",".join(entry(t, k) for t, k in keys.items())}
    with ServiceProcess(env=env) as process:
        first = _stalled(process.port, BODY, key=keys["alice"])
        more = [_stalled(process.port, BODY, key=keys["alice"]) for _ in range(2)]
        bob = _stalled(process.port, BODY, key=keys["bob"])
        try:
            for sock in more:  # 600,000 bytes would pass alice's 500,000
                status, headers, body = _answer(sock)
                assert status == 503 and headers["retry-after"]
                detail = json.loads(body)["detail"]
                assert "this tenant's calls hold" in detail and "would pass its share, 500,000" in detail
            for sock in (bob, first):
                sock.sendall(b" ")
                assert _answer(sock)[0] == 201
        finally:
            for sock in (first, bob, *more):
                sock.close()


def test_a_content_length_alone_holds_nothing(service):
    """Headers that promise large bodies, and no byte of them: the room is the bytes that came."""
    promised = []
    try:
        for _ in range(5):  # 5 x 450 kB promised, twice the allowance
            sock = socket.create_connection(("127.0.0.1", service))
            sock.sendall(b"POST /v1/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 450000\r\n\r\n")
            promised.append(sock)
        assert _create(service) == 201
        stalled = _stalled(service, BODY)  # and a body that did send its bytes still fits
        stalled.sendall(b" ")
        assert _answer(stalled)[0] == 201
        stalled.close()
    finally:
        for sock in promised:
            sock.close()


def test_a_body_of_another_media_type_is_refused_before_it_is_read(service):
    sock = socket.create_connection(("127.0.0.1", service))
    try:
        sock.sendall(b"POST /v1/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n"
                     b"Content-Length: 400000\r\n\r\n")  # and not a byte of the body
        status, _, body = _answer(sock)
    finally:
        sock.close()
    assert status == 415 and "Content-Type must be application/json" in json.loads(body)["detail"]


def test_a_calls_body_is_held_until_the_call_ends_and_then_given_back(make_app, serve):
    """A body that is in may still wait (for its turn, or for a lease): it is counted until its
    call answers, whatever the answer, and then given back."""
    import threading
    import time

    app = make_app()
    held = app.state.body_bytes
    with serve(app) as client:
        session = client.post("/v1/sessions", json={"dim": 2, "x0": [0.0, 0.0], "directions": 1}).json()
        ask = f"/v1/sessions/{session['id']}/ask"
        assert client.post(ask, json={"lease": 1, "worker": "a"}).status_code == 200  # the only direction
        body = json.dumps({"lease": 1, "worker": "b", "wait": 1.0}).encode()
        during = []
        waiting = threading.Thread(target=lambda: client.post(ask, content=body,
                                                              headers={"Content-Type": "application/json"}))
        waiting.start()
        time.sleep(0.5)  # b waits for a lease, its body in
        during.append(held.held)
        waiting.join()
        for answer in (client.post("/v1/sessions", json={"dim": 0}),  # 422
                       client.post("/v1/sessions", content=b"{", headers={"Content-Type": "application/json"}),
                       client.post("/v1/sessions", content=b"x", headers={"Content-Type": "text/plain"}),
                       client.post(f"/v1/sessions/{session['id']}/tell", json={"step": 5, "f_x": 1.0,
                                                                             "f_plus": [1.0]})):
            assert answer.status_code in (400, 409, 415, 422)
    assert during == [len(body)] and held.held == 0
