"""The open mode (no keys) on loopback, over real HTTP: a /v1 call must be addressed to a
loopback name or one the operator listed, so a web page that points a name of its own at
127.0.0.1 (DNS rebinding) cannot call the service from the user's browser."""

from __future__ import annotations

import http.client
import json

import pytest

from zoadamm_service.api.auth import bearer_key
from zoadamm_service.launch import ServiceProcess
from zoadamm_service.tenants import entry


def call(port: int, host: str, method: str, path: str, body: dict | None = None,
         headers: dict | None = None) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=None if body is None else json.dumps(body),
                     headers={"Host": host, "Content-Type": "application/json", **(headers or {})})
        answer = conn.getresponse()
        text = answer.read()
        return answer.status, json.loads(text) if text.startswith(b"{") else {}
    finally:
        conn.close()


@pytest.fixture(scope="module")
def open_service():
    with ServiceProcess(env={"ZOADAMM_OPEN_HOST_NAMES": "balancer, Service-A"}) as service:
        yield service.port


@pytest.mark.parametrize("host", ["attacker.example", "attacker.example:{port}", "localhost.attacker.example",
                                  "127.0.0.1.nip.io:{port}", "balancer.attacker.example", "[::2]:{port}", ""])
def test_a_call_named_for_another_host_is_refused_and_changes_nothing(open_service, host):
    port = open_service
    host = host.format(port=port)
    status, answer = call(port, host, "POST", "/v1/sessions", {"dim": 2, "name": "via rebinding"})
    assert status == 403
    assert answer["detail"].startswith("this service runs open (no API keys) on loopback")
    assert f"not Host {host!r}" in answer["detail"] and "balancer, service-a only" in answer["detail"]
    assert "call it at http://127.0.0.1:PORT, add the name to ZOADAMM_OPEN_HOST_NAMES" in answer["detail"]
    assert call(port, host, "GET", "/v1/sessions")[0] == 403
    assert call(port, host, "GET", "/v1/dashboard/sessions")[0] == 403
    listed = call(port, f"127.0.0.1:{port}", "GET", "/v1/sessions")[1]
    assert "via rebinding" not in json.dumps(listed)
    # what holds no session data stays open, as with keys
    assert call(port, host, "GET", "/healthz")[0] == 200


@pytest.mark.parametrize("host", ["localhost:{port}", "LOCALHOST", "127.0.0.1:{port}", "127.8.9.10", "[::1]:{port}",
                                  "balancer:8000", "service-a", "SERVICE-A:80"])
def test_loopback_names_and_the_listed_ones_are_served(open_service, host):
    port = open_service
    status, answer = call(port, host.format(port=port), "POST", "/v1/sessions", {"dim": 2})
    assert status == 201, answer
    assert call(port, host.format(port=port), "DELETE", f"/v1/sessions/{answer['id']}")[0] == 204


def test_a_call_without_a_host_header_is_no_pages_and_is_served(open_service):
    """HTTP/1.0 leaves Host out; a browser never does."""
    import socket

    with socket.create_connection(("127.0.0.1", open_service)) as sock:
        sock.sendall(b"GET /v1/sessions HTTP/1.0\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]


def test_with_keys_or_open_on_purpose_any_host_is_served():
    with ServiceProcess(env={"ZOADAMM_API_KEYS": entry("team", "the-key-of-team")}) as keyed:
        status, _ = call(keyed.port, "attacker.example", "POST", "/v1/sessions", {"dim": 2},
                         {"Authorization": "Bearer the-key-of-team"})
        assert status == 201  # a page elsewhere has no key: the key is the guard
        assert call(keyed.port, "attacker.example", "POST", "/v1/sessions", {"dim": 2})[0] == 401
    with ServiceProcess(env={"ZOADAMM_ALLOW_OPEN": "true"}) as open_anyway:
        assert call(open_anyway.port, "attacker.example", "POST", "/v1/sessions", {"dim": 2})[0] == 201


@pytest.mark.parametrize("value, key", [("Bearer abc", "abc"), ("Bearer  abc\t", "abc"), ("Bearer \xa0abc", None),
                                        ("Bearer abc\x85", None), ("Bearer a c", None)])
def test_a_key_is_cut_at_http_whitespace_only(value, key):
    assert bearer_key(value.encode("latin-1")) == key
