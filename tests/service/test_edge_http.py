"""The service at its edge, over real HTTP: the event loop stays free during the largest ask, a
hung Redis gives a quick 503 with Retry-After, errors never cost the keep-alive connection, slow
bodies time out, and integers beyond their range are 422."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import pytest
import redis

from zoadamm import wire
from zoadamm_service.launch import ServiceProcess, free_port
from zoadamm_service.settings import Settings

FRAME = wire.MEDIA_TYPE


def request(conn: http.client.HTTPConnection, method: str, path: str, body: bytes | None = None,
            headers: dict | None = None) -> tuple[int, dict, bytes]:
    conn.request(method, path, body=body, headers=headers or {})
    answer = conn.getresponse()
    return answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()


def healthz_seconds(url: str) -> float:
    port = int(url.rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    start = time.perf_counter()
    status, _, _ = request(conn, "GET", "/healthz")
    conn.close()
    assert status == 200
    return time.perf_counter() - start


def test_healthz_answers_while_the_largest_ask_runs(redis_url):
    """q and d at the largest the default limits allow for an ask with vectors (64 MiB of
    directions in the frame): /healthz keeps answering, in well under half of the ask's time."""
    settings = Settings()
    q = settings.max_directions
    d = settings.max_body_bytes // (4 * q)
    with ServiceProcess(redis_url) as service:
        port = int(service.url.rsplit(":", 1)[1])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        status, _, body = request(conn, "POST", "/v1/sessions", wire.encode({"dim": d, "directions": q, "seed": 3},
                                  {"x0": np.zeros(d, np.float32)}), {"Content-Type": FRAME})
        assert status == 201, body
        sid = json.loads(body)["id"]
        baseline = [healthz_seconds(service.url) for _ in range(20)]
        done, asked = threading.Event(), {}

        def ask() -> None:
            start = time.perf_counter()
            asked["status"], _, asked["body"] = request(conn, "POST", f"/v1/sessions/{sid}/ask?vectors=true",
                                                        b"{}", {"Content-Type": "application/json", "Accept": FRAME})
            asked["seconds"] = time.perf_counter() - start
            done.set()

        worker = threading.Thread(target=ask)
        worker.start()
        during = []
        while not done.is_set():
            during.append(healthz_seconds(service.url))
        worker.join()
        conn.close()
    assert asked["status"] == 200
    _, vectors = wire.decode(asked["body"])
    assert vectors["u"].size == q * d
    assert len(during) >= 3, asked  # the ask took long enough to be measured against
    worst, typical = max(during), statistics.median(baseline)
    print(f"largest ask {asked['seconds']:.2f} s; healthz {typical * 1e3:.1f} ms alone, "
          f"worst {worst * 1e3:.1f} ms of {len(during)} during it")
    # times of one run against each other (a loaded machine slows both): an ask that held the
    # event loop would hold a /healthz for about as long as itself
    assert worst < asked["seconds"] / 2, (worst, asked["seconds"], baseline)


@contextmanager
def own_redis():
    """A redis-server of this test's own (no persistence), to stop and continue."""
    port = free_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(port=port)
    try:
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        yield proc, f"redis://127.0.0.1:{port}/0"
    finally:
        os.kill(proc.pid, signal.SIGCONT)
        proc.terminate()
        proc.wait(10)
        client.close()


def test_a_hung_redis_gives_503_with_retry_after_within_the_timeout():
    with own_redis() as (redis_proc, url), ServiceProcess(url, env={"ZOADAMM_REDIS_TIMEOUT_S": "1"}) as service:
        conn = http.client.HTTPConnection("127.0.0.1", int(service.url.rsplit(":", 1)[1]), timeout=60)
        status, _, body = request(conn, "POST", "/v1/sessions", b'{"dim": 2, "x0": [0, 0]}',
                                  {"Content-Type": "application/json"})
        assert status == 201
        sid = json.loads(body)["id"]
        os.kill(redis_proc.pid, signal.SIGSTOP)
        try:
            for path in [f"/v1/sessions/{sid}", "/healthz"]:
                start = time.perf_counter()
                status, headers, body = request(conn, "GET", path)
                waited = time.perf_counter() - start
                print(f"hung Redis: GET {path.split('/')[-1]} answered {status} after {waited:.2f} s")
                assert status == 503 and headers["retry-after"] == "1", body
                assert waited < 1 + 5.0, waited  # the Redis timeout (1 s), not the client's 60 s
        finally:
            os.kill(redis_proc.pid, signal.SIGCONT)
        status, _, body = request(conn, "GET", f"/v1/sessions/{sid}")  # the same connection
        assert status == 200 and json.loads(body)["id"] == sid
        conn.close()


def test_errors_keep_the_connection_and_integers_beyond_range_are_422(redis_url):
    with ServiceProcess(redis_url, env={"ZOADAMM_BODY_TIMEOUT_S": "1"}) as service:
        port = int(service.url.rsplit(":", 1)[1])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        status, _, body = request(conn, "POST", "/v1/sessions", b'{"dim": 2, "x0": [0, 0]}',
                                  {"Content-Type": "application/json"})
        sid = json.loads(body)["id"]
        huge = wire.encode({"step": 0}).replace(b'"step":0', b'"step":' + b"9" * 5000)
        huge = wire.MAGIC + len(huge[8:]).to_bytes(4, "little") + huge[8:]
        sock_before = conn.sock
        for method, path, payload, headers, expect in [
            ("GET", "/v1/sessions?offset=9223372036854775807", None, {}, 422),
            ("GET", f"/v1/sessions/{sid}/metrics?last=99999999999999999999", None, {}, 422),
            ("GET", f"/v1/sessions/{sid}/trace?tail=-1", None, {}, 422),
            ("POST", f"/v1/sessions/{sid}/tell", huge, {"Content-Type": FRAME}, 400),
            ("POST", f"/v1/sessions/{sid}/tell", b'{"step": 0}', {}, 415),  # no Content-Type
            ("PUT", f"/v1/sessions/{sid}", None, {}, 405),
            ("POST", "/assets/api.js", None, {}, 405),  # a static file
            ("GET", "/v1/sessions/nope", None, {}, 404),
            ("GET", f"/v1/sessions/{sid}/x", None, {}, 200),
            ("HEAD", f"/v1/sessions/{sid}/x", None, {}, 200),  # every GET answers HEAD (it was 405)
            ("HEAD", "/healthz", None, {}, 200),
        ]:
            status, answer_headers, body = request(conn, method, path, payload, headers)
            assert status == expect, (path, body)
            assert answer_headers["x-content-type-options"] == "nosniff" and "server" not in answer_headers
            if status >= 400:
                assert "detail" in json.loads(body)
            if status == 405:
                assert answer_headers["allow"] == ("GET, HEAD" if path.startswith("/assets") else "DELETE, GET, HEAD")
            if method == "HEAD":  # the GET's headers, no body
                assert body == b"" and int(answer_headers["content-length"]) > 0
        assert conn.sock is sock_before  # one keep-alive connection carried every answer

        # a body that does not arrive in time: 408, not a connection held forever
        slow = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        slow.putrequest("POST", f"/v1/sessions/{sid}/metrics")
        slow.putheader("Content-Type", "application/json")
        slow.putheader("Content-Length", "100")
        slow.endheaders(b'{"value": ')
        start = time.perf_counter()
        answer = slow.getresponse()
        assert answer.status == 408 and time.perf_counter() - start < 1 + 5
        assert "did not arrive" in json.loads(answer.read())["detail"]
        slow.close()
        conn.close()


def test_an_unexpected_error_is_a_json_500_and_the_connection_stays_usable():
    import uvicorn

    from zoadamm_service.main import create_app

    app = create_app(Settings(redis_url=None))

    @app.get("/boom")
    async def boom():
        raise RuntimeError("a bug")

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="critical", server_header=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            assert thread.is_alive(), "the server did not start (its port taken meanwhile?)"
            time.sleep(0.02)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        status, headers, body = request(conn, "GET", "/boom")
        assert status == 500 and json.loads(body) == {"detail": "internal error; the service logged it"}
        assert "a bug" not in body.decode() and headers["x-content-type-options"] == "nosniff"
        sock = conn.sock
        status, _, _ = request(conn, "GET", "/healthz")
        assert status == 200 and conn.sock is sock
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_docs_pages_load_their_assets_from_the_service(client, path):
    page = client.get(path)
    assert page.status_code == 200
    assets = [a for a in page.text.split('"') if a.startswith("/assets/")]
    assert assets and "cdn" not in page.text and "https://" not in page.text.replace("https://fastapi", "")
    for asset in assets:
        assert client.get(asset).status_code == 200, asset
    for license_file in ["swagger-ui-dist.LICENSE.txt", "redoc.LICENSE.txt"]:
        assert client.get(f"/assets/{license_file}").status_code == 200


@pytest.mark.parametrize("workers", [1, 2])
def test_an_idle_keep_alive_connection_lasts_as_configuration_md_says(redis_url, workers):
    """configuration.md: an idle keep-alive connection is closed after 5 s.  Under gunicorn
    (``--workers 2``) it was gunicorn's 2 s, and clients that reused a connection at the moment
    it closed lost the request (ReadError)."""
    with ServiceProcess(redis_url, workers=workers) as service:
        host, port = service.url.removeprefix("http://").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        try:
            for pause in (0, 3.5):
                time.sleep(pause)  # idle, past gunicorn's default and within the documented 5 s
                conn.request("GET", "/healthz")
                answer = conn.getresponse()
                assert answer.status == 200 and json.loads(answer.read())["status"] == "ok"
            assert conn.sock is not None  # the same connection throughout: http.client would reopen a closed one
        finally:
            conn.close()


@pytest.mark.parametrize("workers", [1, 2])
def test_bytes_that_are_no_http_request_get_a_json_400(redis_url, workers):
    """Every error of the API is JSON (api.md): uvicorn's own 400, to a request it cannot parse,
    was plain text; here under uvicorn alone and under gunicorn (``--workers 2``).  A method the
    parser does not know is 501 (RFC 9110), where it was said to be a malformed request."""
    bad = ("400 Bad Request", "invalid HTTP request: ")
    unknown = ("501 Not Implemented", "this request's method is none")
    unreadable = [(b"GARBAGE / HTTP/1.1\r\nHost: x\r\n\r\n", *unknown),
                  (b"GET /healthz HTTP/1.1\r\nHost: x\r\nNo colon\r\n\r\n", *bad),
                  (b"POST /v1/sessions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", *bad)]
    with ServiceProcess(redis_url, workers=workers) as service:
        host, port = service.url.removeprefix("http://").split(":")
        for sent, status, says in unreadable:
            with socket.create_connection((host, int(port)), timeout=30) as conn:
                conn.sendall(sent)
                answer = b""
                while chunk := conn.recv(65536):  # the service closes the connection after it
                    answer += chunk
            head, _, body = answer.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            headers = dict(line.lower().split(": ", 1) for line in lines[1:])
            assert lines[0] == "HTTP/1.1 " + status, answer
            assert headers["content-type"] == "application/json" and headers["x-content-type-options"] == "nosniff"
            assert json.loads(body)["detail"].startswith(says) and "server" not in headers


def test_services_on_one_host_share_no_gunicorn_control_socket(redis_url, tmp_path):
    """gunicorn 25.1+ listens on a control socket at one path per user: a second service on the
    host took it over, and the first of them to stop removed it from under the other."""
    home = {"HOME": str(tmp_path), "XDG_RUNTIME_DIR": str(tmp_path)}  # where gunicorn puts it
    with ServiceProcess(redis_url, workers=2, env=home) as service:
        assert httpx.get(service.url + "/healthz").json()["status"] == "ok"
        assert [p.name for p in tmp_path.rglob("*.ctl")] == []


def test_a_single_process_on_a_multiprocess_folder_counts_from_its_own_start(tmp_path):
    """One process with PROMETHEUS_MULTIPROC_DIR set read the folder and left it as it was: each
    start added every earlier run's counters to its own (only --workers N removed them).  Its own
    files, which the start's checks had made (the checkpoint gauges), were removed with them once."""
    folder = str(tmp_path / "metrics")

    def one_run() -> tuple[float, float]:
        with ServiceProcess(env={"PROMETHEUS_MULTIPROC_DIR": folder, "ZOADAMM_CHECKPOINT_EVERY": "2"}) as service:
            httpx.post(service.url + "/v1/sessions/nosuch/tell", json={"step": 0, "f_x": 1.0, "f_plus": [1.0]})
            sid = httpx.post(service.url + "/v1/sessions", json={"dim": 1, "directions": 1, "x0": [0.0]}).json()["id"]
            for step in range(2):
                httpx.post(f"{service.url}/v1/sessions/{sid}/tell", json={"step": step, "f_x": 1.0, "f_plus": [1.0]})
            lines = httpx.get(service.url + "/metrics").text.splitlines()
        def value(name: str) -> float:
            return sum(float(line.split()[-1]) for line in lines if line.startswith(name))
        return value("zoadamm_tells_rejected_total"), value("zoadamm_checkpoint_last_saved_timestamp_seconds")

    rejected, saved = one_run()
    assert rejected == 1.0 and saved > 0
    rejected, saved = one_run()
    assert rejected == 1.0 and saved > 0  # not 2: the first run's samples are gone with its process


def test_a_multiprocess_folder_given_is_made_and_another_live_service_s_samples_are_kept(redis_url, tmp_path):
    """PROMETHEUS_MULTIPROC_DIR that did not exist yet: a FileNotFoundError traceback at import.
    A folder shared with another running service: a start removed that service's live samples."""
    from zoadamm_service.workers import _written_by_another_live_process

    folder = tmp_path / "not" / "yet"
    with ServiceProcess(redis_url, workers=2, env={"PROMETHEUS_MULTIPROC_DIR": str(folder)}) as service:
        assert httpx.get(service.url + "/healthz").json()["status"] == "ok"
        assert "zoadamm_sessions_active" in httpx.get(service.url + "/metrics").text
    assert any(folder.glob("*.db"))
    # a file where the folder goes: --help and --version answer (they made the metrics, a traceback)
    (tmp_path / "afile").write_text("")
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "afile")}
    for flag in ("--help", "--version"):
        command = [str(Path(sys.executable).parent / "zoadamm-service"), flag]
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    ended = subprocess.run(["true"], check=True)  # a process that has exited: its pid is free
    alive = subprocess.Popen(["sleep", "30"])
    try:
        cases = {f"counter_{alive.pid}.db": True, f"counter_{os.getpid()}.db": False, "counter_x.db": False}
        for name, kept in cases.items():
            assert _written_by_another_live_process(tmp_path / name) is kept, name
    finally:
        alive.kill()
        alive.wait()
    assert _written_by_another_live_process(tmp_path / f"gauge_livesum_{alive.pid}.db") is False
    assert ended.returncode == 0
