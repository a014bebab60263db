"""The command-line tools when the service fails them: one line on stderr that names the URL
and says what to do, a non-zero exit status, no traceback; ``--debug`` shows the traceback.

Each tool runs as a process, as a user runs it, against real HTTP servers: nothing listening,
a zoadamm service reached under a wrong path, a service that refuses the tool's API key, and
another HTTP server (``python -m http.server``).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from other_server import http_server

from zoadamm import Client, ZoadammError
from zoadamm.sdk import ConflictError
from zoadamm_service.launch import ServiceProcess, local_service
from zoadamm_service.tenants import entry
from zoadamm_worker.cli_errors import explain

BIN = Path(sys.executable).parent
COMMANDS = {
    "worker mnist": ["zoadamm-worker", "mnist", "--epochs", "1", "--service"],
    "worker rest": ["zoadamm-worker", "rest", "--objective", "http://127.0.0.1:9/f", "--dim", "3", "--service"],
    "experiments": ["zoadamm-experiments", "run", "--preset", "smoke", "--out", "{tmp}", "--service"],
    "demo": ["zoadamm-demo", "--out", "{tmp}", "--service"],
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(name: str, url: str, tmp_path, *extra: str, key: str | None = None) -> subprocess.CompletedProcess:
    program, *args = [a.replace("{tmp}", str(tmp_path)) for a in COMMANDS[name]]
    env = {k: v for k, v in os.environ.items() if k != "ZOADAMM_API_KEY"}
    if key is not None:
        env["ZOADAMM_API_KEY"] = key
    return subprocess.run([str(BIN / program), *args, url, *extra], capture_output=True, text=True, env=env)


def _one_line(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


@pytest.fixture(scope="module")
def service_url():
    with local_service() as url:
        yield url


@pytest.fixture(scope="module")
def keyed_url():
    """A service that takes one key, which the tools are not given."""
    with ServiceProcess(env={"ZOADAMM_API_KEYS": entry("team", "the-right-key")}) as service:
        yield service.url


@pytest.mark.parametrize("name", COMMANDS)
def test_no_service_gives_one_line_naming_the_url(name, tmp_path):
    port = _free_port()
    url = f"http://127.0.0.1:{port}"  # nothing listens there
    line = _one_line(_run(name, url, tmp_path))
    assert url in line and "connection refused" in line and f"zoadamm-service --port {port}`" in line


@pytest.mark.parametrize("name", COMMANDS)
def test_a_wrong_base_path_says_where_the_api_lives(name, service_url, tmp_path):
    line = _one_line(_run(name, service_url + "/api", tmp_path))
    assert f"{service_url}/api/healthz answered 404" in line and "/v1/sessions" in line


@pytest.mark.parametrize("name", COMMANDS)
def test_another_http_server_is_no_zoadamm_service(name, tmp_path):
    with http_server(tmp_path) as url:  # an empty folder: every path is its HTML 404 page
        line = _one_line(_run(name, url, tmp_path))
    assert f"no zoadamm service at {url} ({url}/healthz answered 404 File not found" in line
    # the port is taken: a service started on it would not bind, so it is not suggested
    assert "another HTTP server holds that port" in line and "start one on a free port" in line
    assert f"--port {url.rsplit(':', 1)[1]}" not in line


@pytest.mark.parametrize("name", COMMANDS)
@pytest.mark.parametrize("key", [None, "a-wrong-key"], ids=["no key", "wrong key"])
def test_a_refused_key_says_to_set_zoadamm_api_key(name, key, keyed_url, tmp_path):
    line = _one_line(_run(name, keyed_url, tmp_path, key=key))
    assert f"{keyed_url}/v1/sessions" in line and "answered 401" in line and "ZOADAMM_API_KEY" in line
    assert "the-right-key" not in line and (key is None or key not in line)


def test_debug_shows_the_traceback(tmp_path):
    url = f"http://127.0.0.1:{_free_port()}"
    done = _run("worker rest", url, tmp_path, "--debug")
    assert done.returncode != 0
    assert "Traceback" in done.stderr and "APIConnectionError" in done.stderr and url in done.stderr


def test_a_run_that_diverges_ends_with_one_line_naming_the_step_and_the_lr(service_url, tmp_path):
    done = subprocess.run([str(BIN / "zoadamm-worker"), "mnist", "--method", "zo-sgd", "--lr", "100",
                           "--train-limit", "640", "--quiet", "--service", service_url],
                          capture_output=True, text=True)
    line = _one_line(done)
    assert line.startswith("zoadamm-worker: the loss is not finite at step ") and "(lr 100)" in line
    assert "try a smaller --lr" in line


def test_a_conflict_and_a_lost_session_are_explained(service_url):
    """409 and 404 happen mid-run, after the health check: their lines, from real answers."""
    with Client(service_url) as client:
        session = client.sessions.create(3, x0=[0.0, 0.0, 0.0], directions=1)
        with pytest.raises(ConflictError) as ahead:  # this run is ahead of the session: the store went back
            client.sessions.tell(session.id, 5, f_x=1.0, f_plus=[1.0])
        line = explain(ahead.value, service_url)
        assert service_url in line and "409: step 5 is not open yet; the session is at step 0" in line
        assert "store lost acknowledged steps" in line and "another client" not in line
        client.sessions.tell(session.id, 0, f_x=1.0, f_plus=[1.0])
        with pytest.raises(ConflictError) as behind:  # the session moved on without this run
            client.sessions.tell(session.id, 0, f_x=2.0, f_plus=[1.0])
        line = explain(behind.value, service_url)
        assert "409: step 0 is already applied; the session is at step 1" in line and "another client" in line
        client.sessions.delete(session.id)
        with pytest.raises(ZoadammError) as gone:
            client.sessions.get(session.id)
        line = explain(gone.value, service_url)
        assert service_url in line and "no longer has this run's session" in line


def test_a_joining_run_whose_x0_is_not_the_sessions_is_told_to_pass_it(service_url, tmp_path):
    with Client(service_url) as client:
        session = client.sessions.create(3, x0=[1.0, 1.0, 1.0], directions=1)
    line = _one_line(_run("worker rest", service_url, tmp_path, "--join", session.id))  # x0: zeros
    assert "refused this run's x0 (409: x differs" in line and "the options the session was created with" in line
    assert "rest: --x0; mnist: --seed and --scale" in line


def test_a_joining_run_of_another_dim_is_told_which_option_gave_it(service_url, tmp_path):
    with Client(service_url) as client:
        session = client.sessions.create(4, x0=[0.0] * 4, directions=1)
    line = _one_line(_run("worker rest", service_url, tmp_path, "--join", session.id))  # 3 zeros
    assert f"the start (--dim or --x0) has 3 values; session {session.id} has dim 4" in line


def test_an_mnist_worker_joining_with_another_scale_is_told_which_option_gave_it(service_url, tmp_path):
    """It was told that "x0 has 10602 values", an option it never gave."""
    with Client(service_url) as client:
        session = client.sessions.create(1400, directions=1)
    line = _one_line(_run("worker mnist", service_url, tmp_path, "--join", session.id, "--scale", "1",
                          "--train-limit", "640", "--quiet"))
    assert f"the model of --scale 1 has 10602 weights; session {session.id} has dim 1400" in line, line


def test_a_thread_count_of_zero_means_every_cpu():
    from zoadamm_worker.cli import build_parser

    assert build_parser().parse_args(["mnist", "--threads", "0"]).threads == 0
    assert build_parser().parse_args(["mnist"]).threads == 1


def test_a_record_path_under_a_file_says_a_part_of_it_is_a_file(tmp_path):
    from zoadamm_worker.cli_errors import failure_line

    afile = tmp_path / "afile"
    afile.write_text("")
    for target in (afile / "zo.jsonl", afile / "runs" / "zo.jsonl"):
        with pytest.raises(OSError) as made:
            target.parent.mkdir(parents=True, exist_ok=True)  # as a record's folder is made
        line = failure_line(made.value, None)
        assert line is not None and "is a file, not a folder" in line and str(afile) in line, line


def test_the_start_check_waits_out_a_service_whose_store_blinks(monkeypatch):
    """A service that answers 503 (its Redis is briefly away) at a worker's start is asked again
    with the SDK's retries, as a running worker rides it out; a service not there fails at once."""
    import httpx

    from zoadamm.sdk import ServiceUnavailableError
    from zoadamm_worker import cli_errors

    calls = []

    class Blinking:
        def __init__(self, url):
            self.sessions = type("Sessions", (), {"list": staticmethod(lambda limit: [])})()

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return None

        def health(self, retry=True):
            calls.append(retry)
            if not retry:
                response = httpx.Response(503, json={"detail": "the store (Redis) is slow"},
                                          request=httpx.Request("GET", "http://127.0.0.1:9/healthz"))
                raise ServiceUnavailableError("503", response=response, body={"detail": "slow"})
            return {"status": "ok"}

    monkeypatch.setattr(cli_errors, "Client", Blinking)
    cli_errors.check_service("http://127.0.0.1:9")
    assert calls == [False, True]


def test_a_model_path_that_cannot_be_written_is_refused_before_the_run(tmp_path):
    """--save is checked with --record, before the service is asked (nothing answers at this URL,
    and the line is about the path): not after the whole run has trained."""
    url = f"http://127.0.0.1:{_free_port()}"
    for target, said in ((tmp_path, f"a folder, not a file: {tmp_path}"), (Path("/proc/zoadamm-model.pt"),
                                                                          "/proc/zoadamm-model.pt")):
        done = subprocess.run([str(BIN / "zoadamm-worker"), "mnist", "--save", str(target), "--service", url],
                              capture_output=True, text=True)
        line = _one_line(done)
        assert line.startswith("zoadamm-worker: ") and said in line and url not in line, line


def test_a_record_in_a_folder_that_takes_no_new_file_is_refused(tmp_path):
    """/proc takes no new file, from root either, whom os.access lets write anywhere."""
    from zoadamm_worker.records import check_writable

    with pytest.raises(OSError) as refused:
        check_writable(tmp_path / "zo.jsonl", "/proc/zoadamm-zo.jsonl")
    assert refused.value.filename == "/proc/zoadamm-zo.jsonl"
    assert list(tmp_path.iterdir()) == []  # the file made to try the first path is gone again


def test_a_file_where_a_folder_goes_names_the_option(tmp_path):
    """--record and --save under one file that stands where a folder goes read alike: the
    option is named."""
    (tmp_path / "afile").write_text("")
    done = _run("worker mnist", "http://127.0.0.1:9", tmp_path, "--record", str(tmp_path / "afile" / "r.jsonl"),
                "--save", str(tmp_path / "afile" / "s.pt"))
    assert _one_line(done).startswith(f"zoadamm-worker: --record: cannot write under {tmp_path / 'afile'}: a part")
    done = _run("worker mnist", "http://127.0.0.1:9", tmp_path, "--save", str(tmp_path / "afile" / "s.pt"))
    assert _one_line(done).startswith(f"zoadamm-worker: --save: cannot write under {tmp_path / 'afile'}: a part")
