"""A client made before ``fork`` and used in the children (multiprocessing's default on Linux):
each child opens connections of its own, so no process reads another's answers."""

from __future__ import annotations

import multiprocessing
import pickle

import httpx
import pytest

from zoadamm import Client, RemoteOptimizer
from zoadamm.sdk import ClientClosedError

CLIENT: Client | None = None
IDS: list[str] = []


def _read_own(index: int) -> list[str]:
    assert CLIENT is not None
    return [CLIENT.sessions.get(IDS[index]).id for _ in range(100)]


def test_forked_children_each_read_their_own_answers(service_url):
    global CLIENT
    with Client(service_url) as client:
        CLIENT = client
        IDS[:] = [client.sessions.create(3, x0=[0.0, 0.0, 0.0], name=f"fork-{i}").id for i in range(4)]
        client.sessions.get(IDS[0])  # the parent's connection is open when the children are forked
        with multiprocessing.get_context("fork").Pool(4) as pool:
            answers = pool.map(_read_own, range(4))
        assert answers == [[session_id] * 100 for session_id in IDS]
        assert client.sessions.get(IDS[1]).id == IDS[1]  # the parent's own connections still serve it


def _given_client_in_child(_) -> str:
    assert CLIENT is not None
    try:
        CLIENT.sessions.get(IDS[0])
    except ClientClosedError as error:
        return str(error)
    return "answered"


@pytest.mark.parametrize("given", ["http_client", "transport"])
def test_a_client_on_a_given_http_client_or_transport_says_it_belongs_to_the_parent(service_url, given):
    global CLIENT
    with httpx.Client(base_url=service_url) as http:
        client = Client(http_client=http) if given == "http_client" else Client(service_url,
                                                                                transport=httpx.HTTPTransport())
        with client:
            CLIENT = client
            IDS[:] = [client.sessions.create(3, x0=[0.0, 0.0, 0.0]).id]
            with multiprocessing.get_context("fork").Pool(1) as pool:
                (said,) = pool.map(_given_client_in_child, [0])
    assert said.startswith("this Client was made in another process, which this one was forked from")


@pytest.fixture(scope="module")
def service_url():
    from zoadamm_service.launch import local_service

    with local_service() as url:
        yield url


RUN = None


def _step_in_child(_) -> tuple[int, list[float]]:
    """A step of the parent's run, in a forked child: its sending thread is the parent's."""
    import numpy as np

    import zoadamm

    assert RUN is not None
    u = zoadamm.directions(RUN.config.seed, RUN.step, 1, RUN.config.dim)
    f = lambda x: float(np.sum((x - 1.0) ** 2))  # noqa: E731
    RUN.tell(f_x=f(RUN.x), f_plus=[f(RUN.x + RUN.mu * u[0])])
    RUN.flush()  # pipeline=True: the tell is sent while the caller goes on
    return RUN.step, RUN.x.tolist()


@pytest.mark.parametrize("pipeline", [False, True])
def test_a_mirrored_run_steps_in_a_forked_child(service_url, pipeline):
    """The run's sending thread was copied into the child without its thread: the child's first
    tell waited forever for a thread that was not there."""
    import numpy as np

    from zoadamm import RemoteOptimizer

    global RUN
    with Client(service_url) as client:
        RUN = RemoteOptimizer.create(client, np.zeros(5), lr=0.1, mirror=True, pipeline=pipeline)
        for _ in range(3):
            _step_in_child(None)
        with multiprocessing.get_context("fork").Pool(1) as pool:
            (child,) = pool.map_async(_step_in_child, [0]).get(timeout=120)
        assert child[0] == 4  # a step past the parent's three, with the service's x
        assert client.sessions.parameters(RUN.id).step == 4
        assert child[1] == client.sessions.parameters(RUN.id).x.tolist()
        RUN.close()


def _steps_of(run) -> int:
    return run.session.step


@pytest.mark.parametrize("what", ["client", "run"])
def test_a_client_or_run_sent_to_a_spawned_process_says_what_to_send_instead(service_url, what):
    """spawn and forkserver pickle a task's arguments: the client's connections (and its key) can't
    travel, so pickling says what to pass instead, where it said "Can't pickle local object"."""
    with Client(service_url, api_key="secret-key") as client:
        run = RemoteOptimizer.create(client, [0.0, 0.0], name="spawned")
        sent = client if what == "client" else run
        with pytest.raises(TypeError) as refused:
            pickle.dumps(sent)
        message = str(refused.value)
        assert "cannot be pickled" in message and "secret-key" not in message
        assert ("same base_url and api_key" in message) if what == "client" else (run.id in message)
        with multiprocessing.get_context("spawn").Pool(1) as pool, pytest.raises(TypeError, match="cannot be pickled"):
            pool.map(_steps_of, [run])
