"""Failed logins: wrong keys from one client address are limited (``ZOADAMM_AUTH_FAIL_LIMIT``,
10 a minute by default), 429 with Retry-After past the limit, counted in Redis so that every
replica counts against the same window, while a good key from that address still works.  Real
service processes over HTTP, on a real Redis."""

from __future__ import annotations

import httpx
import pytest

from zoadamm_service.launch import ServiceProcess
from zoadamm_service.tenants import entry, new_key

LIMIT = 10  # the default: ZOADAMM_AUTH_FAIL_LIMIT is not set below


@pytest.fixture
def replicas(redis_url):
    """Two service processes on one Redis, with one tenant's key; yields (key, [http, http])."""
    key = new_key()
    env = {"ZOADAMM_API_KEYS": entry("alice", key)}
    with ServiceProcess(redis_url, env=env) as one, ServiceProcess(redis_url, env=env) as two:
        clients = [httpx.Client(base_url=svc.url, timeout=30) for svc in (one, two)]
        yield key, clients
        for http in clients:
            http.close()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_wrong_keys_past_the_limit_get_429_and_a_good_key_still_works(replicas):
    key, (one, two) = replicas
    statuses = [one.get("/v1/sessions", headers=bearer(new_key())).status_code for _ in range(60)]
    assert statuses == [401] * LIMIT + [429] * (60 - LIMIT)
    refused = one.get("/v1/sessions", headers=bearer(new_key()))
    assert refused.status_code == 429
    assert "ZOADAMM_AUTH_FAIL_LIMIT" in refused.json()["detail"]
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    # the other replica counts the same window; a call with no key guesses nothing: 401 as ever
    assert two.get("/v1/sessions", headers=bearer(new_key())).status_code == 429
    assert one.get("/v1/sessions").status_code == 401
    # the tenant's own key is never refused for what others sent from its address
    for http in (one, two):
        answer = http.get("/v1/sessions", headers=bearer(key))
        assert answer.status_code == 200, answer.text
    created = one.post("/v1/sessions", json={"dim": 2, "x0": [0.0, 1.0]}, headers=bearer(key))
    assert created.status_code == 201, created.text


def test_calls_without_a_key_do_not_count(replicas):
    """Pages and clients that have no key yet (a dashboard opened before its key is given, a
    browser's preflight) are no guesses: behind one balancer address they would lock every
    other keyless caller out."""
    _, (one, _) = replicas
    assert {one.get("/v1/sessions").status_code for _ in range(3 * LIMIT)} == {401}
    assert one.options("/v1/sessions").status_code == 401
    statuses = [one.get("/v1/sessions", headers=bearer(new_key())).status_code for _ in range(LIMIT + 1)]
    assert statuses == [401] * LIMIT + [429]


def test_the_limit_is_a_setting(redis_url):
    key = new_key()
    env = {"ZOADAMM_API_KEYS": entry("alice", key), "ZOADAMM_AUTH_FAIL_LIMIT": "3/minute"}
    with ServiceProcess(redis_url, env=env) as svc, httpx.Client(base_url=svc.url, timeout=30) as http:
        statuses = [http.get("/v1/sessions", headers=bearer(new_key())).status_code for _ in range(5)]
        assert statuses == [401, 401, 401, 429, 429]
        assert http.get("/healthz").status_code == 200  # open routes are not behind the key


def test_the_sdk_reads_the_limits_429_as_the_refused_key_it_is(redis_url):
    """The 429 carries the 401's challenge: the SDK raises AuthenticationError at once, without
    retrying a key that would be refused again (it used to back off for tens of seconds and then
    raise RateLimitError)."""
    from zoadamm import Client
    from zoadamm.sdk import AuthenticationError

    env = {"ZOADAMM_API_KEYS": entry("alice", new_key()), "ZOADAMM_AUTH_FAIL_LIMIT": "2/minute"}
    with ServiceProcess(redis_url, env=env) as svc:
        sent: list[str] = []
        http = httpx.Client(base_url=svc.url, timeout=30, event_hooks={"request": [lambda r: sent.append(r.url.path)]})
        client = Client(http_client=http, api_key=new_key())
        for expected in (401, 401, 429, 429):
            with pytest.raises(AuthenticationError) as caught:
                client.sessions.list()
            assert caught.value.status_code == expected
        assert len(sent) == 4  # one request each: none retried
        assert "too many failed authentications" in str(caught.value) and "ZOADAMM_API_KEY" in str(caught.value)
        assert "www-authenticate" in caught.value.response.headers
        http.close()


@pytest.mark.parametrize("trusted", [False, True], ids=["no proxy named", "FORWARDED_ALLOW_IPS"])
def test_x_forwarded_for_names_the_client_only_from_a_proxy_named_in_forwarded_allow_ips(redis_url, trusted):
    """Without FORWARDED_ALLOW_IPS no peer is a proxy: a client on the service's own host that
    names another address in each request is still counted as itself.  With it, the proxy's
    header names the client, so each client behind a balancer is counted apart."""
    env = {"ZOADAMM_API_KEYS": entry("alice", new_key()), "ZOADAMM_AUTH_FAIL_LIMIT": "3/minute",
           **({"FORWARDED_ALLOW_IPS": "127.0.0.1"} if trusted else {})}
    with ServiceProcess(redis_url, env=env) as svc, httpx.Client(base_url=svc.url, timeout=30) as http:
        statuses = [http.get("/v1/sessions", headers={**bearer(new_key()), "X-Forwarded-For": f"10.0.{i}.1"})
                    .status_code for i in range(5)]
    assert statuses == ([401] * 5 if trusted else [401, 401, 401, 429, 429])


@pytest.mark.parametrize("url_fixture", ["redis_url", "cluster_url"])
def test_the_limits_counters_close_their_connections_with_the_app(request, url_fixture):
    """The rate limit's and the failed keys' counters hold Redis connections of their own: they
    are closed at the app's end, where they were left to be finalized later, after their event
    loop had closed (a ResourceWarning in whatever ran then)."""
    import gc
    import warnings

    from fastapi.testclient import TestClient

    from zoadamm_service.main import create_app
    from zoadamm_service.settings import Settings

    key = new_key()
    settings = Settings(redis_url=request.getfixturevalue(url_fixture), redis_cluster=url_fixture == "cluster_url",
                        api_keys=entry("alice", key), rate_limit="1000/minute")
    gc.collect()  # what earlier tests in this process left is theirs, not this app's
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        with TestClient(create_app(settings)) as client:
            assert client.get("/v1/sessions", headers=bearer(new_key())).status_code == 401  # a failed key counted
            assert client.get("/v1/sessions", headers=bearer(key)).status_code == 200  # a call counted
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []
