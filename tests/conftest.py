"""Fixtures shared by every test directory: a real Redis on a dedicated database, and apps built
with the service's own factory.

Redis is not optional: when nothing answers at ``ZOADAMM_TEST_REDIS_URL`` (default
``redis://127.0.0.1:6379/15``), the tests that need it fail; they never skip.  The ``cluster``
store kind runs on a real 3-master Redis Cluster that the session starts on free local ports
(``redis_cluster.LocalCluster``; ``redis-server`` and ``redis-cli`` must be on PATH).
"""

from __future__ import annotations

import fcntl
import os
import signal
import tempfile
import threading
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import pytest


def pytest_configure(config):
    """A suite started as a background job (`make test &`, some CI shells) inherits SIGINT
    ignored, which Python keeps, and so do the programs the tests start: the tests that press
    Ctrl-C would wait for it forever.  Ctrl-C is delivered here as a terminal delivers it."""
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


# The workers' tests (MNIST training runs, services restarted under them, whole commands) are the
# suite's longest files and were collected last: with ``--dist loadfile`` the other processes had
# finished minutes before the one that took them.  Collected first, they start first, and the
# short files fill in at the end.  The sort is stable: each file keeps its tests' order.
FIRST = ("tests/worker/",)


def pytest_collection_modifyitems(config, items):
    items.sort(key=lambda item: not item.nodeid.startswith(FIRST))


# pytest-xdist's workers (gw0, gw1, ...) run side by side: worker n takes the two databases 2n
# below the defaults, and its own turn with other runs' worker n (``_redis_turn``).
WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0")[2:])


def _database_url(variable: str, default_db: int) -> str:
    url = urlsplit(os.environ.get(variable, f"redis://127.0.0.1:6379/{default_db}"))
    db = int(url.path.strip("/") or 0) - 2 * WORKER
    if db < 0:
        raise pytest.UsageError(f"test process {WORKER} has no Redis database below {variable}'s: run fewer")
    return urlunsplit(url._replace(path=f"/{db}"))


TEST_REDIS_URL = _database_url("ZOADAMM_TEST_REDIS_URL", 15)
# A second database for module-scoped fixtures, so per-test flushes of the first leave it alone.
MODULE_REDIS_URL = _database_url("ZOADAMM_TEST_REDIS_MODULE_URL", 14)
STORES = ["memory", "redis"]


def _flush(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=5)
    try:
        client.flushdb()
    finally:
        client.close()


@pytest.fixture(scope="session")
def _redis_turn():
    """Two test runs on one machine would flush each other's databases: they take turns."""
    with open(os.path.join(tempfile.gettempdir(), f"zoadamm-test-redis-{WORKER}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@pytest.fixture
def redis_url(_redis_turn) -> str:
    """A Redis database of its own, empty before and after the test (raises when Redis is down)."""
    _flush(TEST_REDIS_URL)
    yield TEST_REDIS_URL
    _flush(TEST_REDIS_URL)


@pytest.fixture(scope="module")
def module_redis_url(_redis_turn) -> str:
    """Like ``redis_url``, for a whole module (another database, flushed around the module)."""
    _flush(MODULE_REDIS_URL)
    yield MODULE_REDIS_URL
    _flush(MODULE_REDIS_URL)


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory):
    """A 3-master Redis Cluster for the whole session, stopped after it."""
    from redis_cluster import LocalCluster

    cluster = LocalCluster(tmp_path_factory.mktemp("redis-cluster")).start()
    yield cluster
    cluster.stop()


@pytest.fixture
def cluster_url(redis_cluster) -> str:
    """A URL naming one node of the session's cluster, every master flushed before and after."""
    redis_cluster.flush()
    yield redis_cluster.url
    redis_cluster.flush()


@pytest.fixture
def redis_client(redis_url):
    """A synchronous client on the test database, to look at what the service wrote."""
    import redis

    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture(params=STORES)
def store_kind(request) -> str:
    return request.param


@pytest.fixture
def make_app(request, store_kind):
    """``make_app(**settings)``: a new app from ``create_app`` on this test's store kind.

    Every app of one test shares one store: the same Redis database, or one ``MemoryStore``
    (which is only atomic on one event loop, so memory-store apps must share a client).
    """
    from zoadamm_service.main import create_app
    from zoadamm_service.settings import Settings
    from zoadamm_service.store.memory import MemoryStore

    url = {"redis": "redis_url", "cluster": "cluster_url"}.get(store_kind)
    url = request.getfixturevalue(url) if url else None
    shared: list[MemoryStore] = []  # made by the first app, with its settings' idle lifetime

    def build(**settings):
        # a Redis budget for a loaded machine (CI's two cores run the suite in parallel beside a
        # cluster's nodes): the service's 2 s answered 503 there, for a reply and for a connect;
        # tests of the budget set their own
        settings = Settings(redis_url=url, redis_cluster=store_kind == "cluster",
                            **{"redis_timeout_s": 30.0, "redis_connect_timeout_s": 30.0, **settings})
        if store_kind != "memory":
            return create_app(settings)
        if not shared:
            shared.append(MemoryStore(settings.session_ttl_s))
        return create_app(settings, shared[0])

    return build


@contextmanager
def serving(app):
    """A TestClient inside the app's lifespan (one event loop for all its requests, so Redis
    connections and background work survive between requests)."""
    from fastapi.testclient import TestClient

    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def client(make_app):
    """A client of one fresh app with default settings."""
    with serving(make_app()) as c:
        yield c


@pytest.fixture
def serve():
    """``serve(app)``: the ``serving`` context manager, for tests that run several apps."""
    return serving
