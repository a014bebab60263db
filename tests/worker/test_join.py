"""Workers that share one session (``--join``), over real HTTP against a service process on a
real Redis: two MNIST worker processes take the same steps as one worker, bit for bit (the
same x after every step), also when one of them is killed mid-epoch."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from zoadamm import Ball, Box, Client, FeasibleSet, InvalidArgument, RemoteOptimizer, wire
from zoadamm_service.launch import local_service
from zoadamm_worker.join import join_rest
from zoadamm_worker.mnist import load_mnist
from zoadamm_worker.train import RunSpec, train

Q = 4
WORKER = str(Path(sys.executable).with_name("zoadamm-worker"))


@pytest.fixture(scope="module")
def service_url(module_redis_url):
    # a short lease: the killed worker's directions go to the other one a second later
    with local_service(module_redis_url, env={"ZOADAMM_LEASE_SECONDS": "1"}) as url:
        yield url


@pytest.fixture(scope="module")
def client(service_url):
    with Client(service_url) as c:
        yield c


def history(client: Client, session_id: str) -> list[tuple[int, str, float, list[float]]]:
    """Every step of the session: its number, the CRC of x before it, its lr and coefficients."""
    info = client.sessions.ask(session_id, lease=1, since=0, until=0)
    assert info.steps is not None and len(info.steps) == info.step
    return [(s.step, s.checksum, s.lr, s.coefficients.tolist()) for s in info.steps]


def final(client: Client, session_id: str) -> tuple[int, str, list[float]]:
    x = client.sessions.parameters(session_id)
    values = [m["value"] for m in client.sessions.history(session_id)]
    return x.step, wire.checksum(np.asarray(x.x, np.float32)), values


def single_worker(client: Client, service_url: str, train_limit: int, epochs: int) -> str:
    (*_, last) = train(RunSpec(directions=Q, epochs=epochs, train_limit=train_limit, seed=0), service_url,
                       data=load_mnist(), client=client, progress=False)
    return str(last["session"])


def start_workers(service_url: str, session_id: str, train_limit: int, epochs: int, n: int = 2,
                  extra: list[str] | None = None):
    argv = [WORKER, "mnist", "--join", session_id, "--train-limit", str(train_limit), "--epochs", str(epochs),
            "--lease", str(Q // 2), "--service", service_url, "--quiet", *(extra or [])]
    return [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "ZOADAMM_API_KEY": ""}) for _ in range(n)]


def new_session(client: Client) -> str:
    """Created with no parameters, as from the REST API: the workers' first asks set x."""
    return client.sessions.create(1400, directions=Q, seed=0).id


def one_worker(client: Client, f, x0: np.ndarray, steps: int, config: dict) -> RemoteOptimizer:
    """The reference: ``steps`` ZO steps of ``f`` by one mirroring worker on its own session."""
    with RemoteOptimizer.create(client, x0, mirror=True, **config) as alone:
        for _ in range(steps):
            u = alone.directions()
            alone.tell(f_x=f(alone.x), f_plus=[f(alone.x + np.float32(alone.mu) * u_i) for u_i in u])
    return alone


def test_two_workers_take_the_steps_of_one(client, service_url):
    reference = single_worker(client, service_url, train_limit=1280, epochs=2)  # 10 steps an epoch
    shared = new_session(client)
    workers = start_workers(service_url, shared, train_limit=1280, epochs=2)
    outputs = [w.communicate() for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs
    assert history(client, shared) == history(client, reference)  # the same x before every step
    assert final(client, shared) == final(client, reference)  # and after the last, reported once per epoch
    assert len(client.sessions.history(shared)) == 2


def test_a_killed_worker_delays_the_epoch_but_never_changes_it(client, service_url):
    reference = single_worker(client, service_url, train_limit=2560, epochs=1)  # 20 steps
    shared = new_session(client)
    doomed, survivor = start_workers(service_url, shared, train_limit=2560, epochs=1)
    while client.sessions.get(shared).step < 5:
        assert doomed.poll() is None and survivor.poll() is None, "a worker ended before step 5"
        time.sleep(0.02)
    doomed.send_signal(signal.SIGKILL)
    doomed.wait()
    out, err = survivor.communicate()
    assert survivor.returncode == 0, err
    assert history(client, shared) == history(client, reference)
    assert final(client, shared) == final(client, reference)


def test_a_worker_stopped_past_an_epochs_end_goes_on_without_reporting_it(client, service_url):
    """A worker held up (SIGSTOP) while the other finished two epochs followed the session past
    them, then evaluated the test set at that later x and reported it under the first epoch's
    key: 422 for another value with that key, and the worker exited."""
    reference = single_worker(client, service_url, train_limit=1280, epochs=3)  # 10 steps an epoch
    shared = new_session(client)
    held, other = start_workers(service_url, shared, train_limit=1280, epochs=3)
    deadline = time.monotonic() + 300  # a guard against a run that never gets there
    while client.sessions.get(shared).step < 3:
        assert held.poll() is None and other.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    held.send_signal(signal.SIGSTOP)
    try:
        while client.sessions.get(shared).step < 22:  # past the ends of epochs 1 and 2
            assert other.poll() is None and time.monotonic() < deadline, other.communicate()
            time.sleep(0.05)
    finally:
        held.send_signal(signal.SIGCONT)
    outputs = [w.communicate() for w in (held, other)]
    assert [held.returncode, other.returncode] == [0, 0], outputs
    assert history(client, shared) == history(client, reference)
    assert final(client, shared) == final(client, reference)  # each epoch reported once, at its end


@pytest.mark.parametrize("method,constraint", [
    ("zo-adamm", None),
    ("zo-sgd", FeasibleSet(box=Box(-1.0, [2.0, 1.5, 1.0, 0.5, 2.5]))),
    ("zo-adam", FeasibleSet(ball=Ball("2", 0.0, 2.0))),
], ids=["zo-adamm", "zo-sgd in a box", "zo-adam in an l2 ball"])
def test_rest_workers_on_one_session_take_the_steps_of_one(patient_client, method, constraint):
    client = patient_client  # a worker slowed past a 1 s lease would see its directions told twice

    def f(x):  # its minimum, 3 in every coordinate, lies outside both sets
        return float(np.sum((np.asarray(x, np.float64) - 3.0) ** 2))

    config = dict(lr=0.01 if method == "zo-sgd" else 0.05, directions=Q, seed=3, method=method,
                  constraint=constraint)
    x0 = np.zeros(5, np.float32)
    alone = one_worker(client, f, x0, 30, config)
    shared = client.sessions.create(5, **config).id
    base_url = str(client.http.base_url)
    results: list[dict] = []
    threads = [threading.Thread(target=lambda: results.append(join_rest(f, shared, base_url, x0, 30, lease=1)))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r["steps"] for r in results] == [30, 30]
    assert sum(r["directions_told"] for r in results) == 30 * Q
    assert history(client, shared) == history(client, alone.id)
    assert results[0]["x"] == results[1]["x"] == np.asarray(alone.x, np.float64).tolist()
    assert constraint is None or constraint.violation(np.asarray(alone.x)) is None


def test_a_worker_that_joins_late_replays_the_steps_and_mirrors(client):
    from zoadamm.sdk import SharedRun

    sid = client.sessions.create(3, directions=2, seed=5).id
    first = SharedRun(client, sid, np.zeros(3, np.float32), lease=2)
    for _ in range(3):
        work = first.next()
        assert work is not None
        first.tell(work, 1.0, [1.5, 0.5])
    late = SharedRun(client, sid, np.zeros(3, np.float32), lease=2)
    assert late.mirrored and late.step == 3
    np.testing.assert_array_equal(late.x, first.x)


def test_a_joined_worker_says_so_when_the_store_lost_steps(client, module_redis_url, caplog):
    """Redis back from an older save: the worker followed the session back to its step in
    silence and evaluated the lost steps again (a solo run's 409 says the store lost them)."""
    import redis

    from zoadamm.sdk import SharedRun

    sid = client.sessions.create(3, directions=2, seed=5).id
    run = SharedRun(client, sid, np.zeros(3, np.float32), lease=2)

    def steps(n: int) -> None:
        for _ in range(n):
            work = run.next()
            assert work is not None
            run.tell(work, 1.0, [1.5, 0.5])

    steps(2)
    store = redis.Redis.from_url(module_redis_url)
    saved = {key: store.dump(key) for key in store.scan_iter(f"zoadamm:{{{sid}}}:*")}
    steps(3)
    for key, value in saved.items():  # the save of step 2 restored
        store.restore(key, 0, value, replace=True)
    with caplog.at_level("WARNING", logger="zoadamm"):
        steps(2)  # the lease of step 5 that the last tell brought back: 409, then the ask follows
    assert f"session {sid} went back from step 5 to step 2: its store lost acknowledged steps" in caplog.text
    assert run.step == 3


@pytest.fixture(scope="module")
def patient_service_url(module_redis_url):
    # the default lease: a worker slowed by a loaded machine keeps its part of the step
    with local_service(module_redis_url) as url:
        yield url


@pytest.fixture(scope="module")
def patient_client(patient_service_url):
    with Client(patient_service_url) as c:
        yield c


def test_a_joined_worker_makes_one_request_per_step(patient_service_url, patient_client):
    """After its first ask, each of two workers only tells: every tell brings back the closed
    step and the worker's next lease.  The steps are still one worker's."""
    import httpx

    from zoadamm.sdk import SharedRun

    service_url, client = patient_service_url, patient_client

    def f(x):
        return float(np.sum((np.asarray(x, np.float64) + 1.0) ** 2))

    config = dict(lr=0.05, directions=Q, seed=11)
    x0 = np.zeros(6, np.float32)
    alone = one_worker(client, f, x0, 20, config)
    shared = client.sessions.create(6, **config).id
    counts: list[dict[str, int]] = []
    # both workers hold a part of step 0 before either tells: one that started late would
    # otherwise find every step taken by the other (a tell leases what nobody holds)
    both_leased = threading.Barrier(2, timeout=60)

    def work() -> None:
        seen: dict[str, int] = {}

        def count(request: httpx.Request) -> None:  # requests by the path's last part: ask, tell, ...
            name = request.url.path.rsplit("/", 1)[1]
            seen[name] = seen.get(name, 0) + 1

        with Client(http_client=httpx.Client(base_url=service_url, event_hooks={"request": [count]})) as mine:
            run = SharedRun(mine, shared, x0, lease=Q // 2)
            before = dict(seen)
            w = run.next(20)
            both_leased.wait()
            while w is not None:
                u = run.directions(w.indices)
                run.tell(w, f(run.x), [f(run.x + np.float32(w.mu) * u_i) for u_i in u])
                w = run.next(20)
            assert run.mirrored and run.step == 20 and run.mismatches == 0
            counts.append({k: seen.get(k, 0) - before.get(k, 0) for k in ("ask", "tell")})

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [c["ask"] for c in counts] == [1, 1], counts  # the first lease only
    assert sum(c["tell"] for c in counts) >= 20
    assert history(client, shared) == history(client, alone.id)


def test_a_joined_run_in_pieces_of_steps_ends_as_one_run(client, service_url):
    """A --join worker whose --steps end inside an epoch leaves its report to the worker that
    ends the epoch: the next joined worker goes on past it, and the session matches one run."""
    reference = single_worker(client, service_url, train_limit=1280, epochs=2)  # 10 steps an epoch
    shared = new_session(client)
    for steps in (3, None):
        (worker,) = start_workers(service_url, shared, train_limit=1280, epochs=2, n=1,
                                  extra=[] if steps is None else ["--steps", str(steps)])
        out, err = worker.communicate()
        assert worker.returncode == 0, err
    assert final(client, shared) == final(client, reference)
    assert len(client.sessions.history(shared)) == 2


@pytest.mark.parametrize("offset", [0.0, 0.5], ids=["same data", "other data"])
def test_workers_of_other_data_are_found_out_at_the_first_shared_step(patient_service_url, offset):
    """Two workers whose f(x) differ at the same x (one of another --batch-size or --normalize)
    mixed their values into every step unnoticed, and the run went on: once a step both told
    part of has closed, each finds the step's f(x) is not its own, and says why."""
    from zoadamm.sdk import SharedRun
    from zoadamm_worker.join import SameData

    def f(x, shift: float) -> float:
        return float(np.sum((np.asarray(x, np.float64) + 1.0) ** 2)) + shift

    x0 = np.zeros(6, np.float32)
    with Client(patient_service_url) as client:
        shared = client.sessions.create(6, lr=0.05, directions=Q, seed=11).id
        both_leased = threading.Barrier(2, timeout=60)
        said: list[str] = []

        def work(shift: float) -> None:
            run = SharedRun(client, shared, x0, lease=Q // 2)
            same = SameData(client, shared)
            w = run.next(3)
            both_leased.wait()  # each holds half of step 0
            try:
                while w is not None:
                    same.check(run.step)
                    u = run.directions(w.indices)
                    f_x = f(run.x, shift)
                    same.told(w.step, f_x, len(w.indices) < Q)
                    run.tell(w, f_x, [f(run.x + np.float32(w.mu) * u_i, shift) for u_i in u])
                    w = run.next(3)
                same.check(run.step, now=True)
            except InvalidArgument as refused:
                said.append(str(refused))

        threads = [threading.Thread(target=work, args=(shift,)) for shift in (0.0, offset)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    if offset == 0.0:
        assert said == []
    else:
        assert len(said) == 2, said
        for line in said:
            assert line.startswith(f"step 0 of session {shared} mixed other data into its values: this worker's "
                                   "f(x) was "), line
            assert line.endswith("workers that share a session must read the same data: give all of them the same "
                                 "--batch-size, --train-limit, --normalize, --shuffle and --seed"), line


def test_an_epoch_reported_with_another_test_loss_names_the_data_options(patient_client):
    """Where no step gave it away (central differences are not looked at), the epoch's report,
    one Idempotency-Key for every worker, refuses another worker's other test loss: that 422
    read "this Idempotency-Key was sent before with another request"."""
    from zoadamm.sdk import SharedRun
    from zoadamm_worker.join import _report

    shared = patient_client.sessions.create(6, directions=Q, seed=3).id
    run = SharedRun(patient_client, shared, np.zeros(6, np.float32), lease=Q)
    run.report(0.5, "epoch-1", test_accuracy=0.9)  # the other worker's
    with pytest.raises(InvalidArgument) as refused:
        _report(run, 1, 0.75, 0.8)
    assert str(refused.value) == (
        f"another worker of session {shared} reported epoch 1 with another test loss than this one's 0.75 at the "
        "same x; workers that share a session must read the same data: give all of them the same --batch-size, "
        "--train-limit, --normalize, --shuffle and --seed")
    assert _report(run, 1, 0.5, 0.9)["lr"] is not None  # the same values: the report as it was
