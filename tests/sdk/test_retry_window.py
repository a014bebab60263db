"""``retry_window``: a service that is away (no connection, 502/503/504, a 429 with Retry-After)
is asked again past ``max_retries`` until the window, counted from the call's first try, is over;
a 500 is not; the wait is said once, in a WARNING.  The clock is a fake one that the client's
sleeps move on: no test waits."""

from __future__ import annotations

import asyncio
import logging
import re

import httpx
import pytest

from zoadamm import AsyncClient, Client, InvalidArgument
from zoadamm.sdk import APIError, InternalServerError, ServiceUnavailableError
from zoadamm.sdk._http import RetryPolicy

AWAY = (503, {"Retry-After": "1"}, {"detail": "no replica of the service answers; retry"})  # the balancer's


class Clock:
    """time.monotonic and time.sleep for the client: each sleep moves the clock on."""

    def __init__(self) -> None:
        self.now, self.slept = 1000.0, []

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr("zoadamm.sdk.client.time", clock)
    monkeypatch.setattr("zoadamm.sdk._http.time", clock)
    return clock


class Away:
    """A MockTransport handler: ``failures`` answers of ``answer`` (a status with headers and
    body, or a transport error to raise), then the sessions' list, empty."""

    def __init__(self, failures: int, answer=AWAY) -> None:
        self.failures, self.answer, self.tries = failures, answer, 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.tries += 1
        if self.tries > self.failures:
            return httpx.Response(200, json={"sessions": [], "next": None})
        if isinstance(self.answer, type):
            raise self.answer("[Errno 111] Connection refused", request=request)
        status, headers, body = self.answer
        return httpx.Response(status, headers=headers, json=body)

    def client(self, **kwargs) -> Client:
        return Client(http_client=httpx.Client(transport=httpx.MockTransport(self), base_url="http://balancer:8000"),
                      **kwargs)


@pytest.mark.parametrize("answer", [AWAY, (502, {}, {}), (504, {}, {}), (429, {"Retry-After": "2"}, {"detail": "slow"}),
                                    httpx.ConnectError], ids=["503", "502", "504", "429", "refused"])
def test_a_service_away_past_the_tries_is_waited_for_within_the_window(clock, answer):
    away = Away(20, answer)
    assert away.client(retry_window=120).sessions.list() == []
    assert away.tries == 21 and clock.now - 1000 < 120

    with pytest.raises(APIError):
        Away(20, answer).client().sessions.list()  # the default: max_retries alone, as before


def test_the_window_ends_the_tries_at_its_end(clock):
    away = Away(10_000)
    with pytest.raises(ServiceUnavailableError):
        away.client(retry_window=120).sessions.list()
    assert clock.now - 1000 == pytest.approx(120)  # the last try at the window's end, not a backoff after it
    assert 20 < away.tries < 10_000


def test_a_500_is_bounded_by_max_retries_alone(clock):
    away = Away(100, (500, {}, {"detail": "boom"}))
    with pytest.raises(InternalServerError):
        away.client(retry_window=120).sessions.list()
    assert away.tries == RetryPolicy.max_retries + 1


def test_the_wait_is_said_once(clock, caplog):
    with caplog.at_level(logging.WARNING, logger="zoadamm"):
        Away(30).client(retry_window=300).sessions.list()
    (record,) = caplog.records
    assert record.getMessage().startswith(
        "zoadamm: the service at http://balancer:8000 does not answer (503 no replica of the service answers; "
        "retry); trying again for up to ")
    with caplog.at_level(logging.WARNING, logger="zoadamm"):
        Away(5).client(retry_window=300).sessions.list()  # within the ordinary tries: nothing to say
    assert len(caplog.records) == 1


def test_the_wait_left_is_said_in_tenths_below_ten_seconds(caplog):
    """With under half a second of the window left, the line said "up to 0 s more"."""
    import time

    from zoadamm.sdk._http import should_retry

    policy = RetryPolicy(window=30.0)
    refused = httpx.ConnectError("[Errno 111] Connection refused", request=httpx.Request("GET", "http://s:8000/x"))
    with caplog.at_level(logging.WARNING, logger="zoadamm"):
        assert should_retry(policy.max_retries, policy, error=refused, started=time.monotonic() - 29.6)
    (record,) = caplog.records
    assert re.search(r"trying again for up to 0\.[1-4] s more$", record.getMessage()), record.getMessage()


def test_the_async_client_has_the_window_too(clock, monkeypatch):
    async def sleep(seconds: float) -> None:
        clock.sleep(seconds)

    monkeypatch.setattr("zoadamm.sdk.client.anyio", type("Loop", (), {"sleep": staticmethod(sleep)}))
    away = Away(20)

    async def listed():
        async with AsyncClient(http_client=httpx.AsyncClient(transport=httpx.MockTransport(away),
                                                             base_url="http://balancer:8000"),
                               retry_window=120) as client:
            return await client.sessions.list()

    assert asyncio.run(listed()) == [] and away.tries == 21


def test_the_backoff_of_a_long_window_stays_a_number():
    """Thousands of tries: 2**attempt would overflow a float."""
    assert 0 < RetryPolicy(window=86400).delay(5000, None) <= RetryPolicy.max_delay


@pytest.mark.parametrize("window", [-1, float("nan"), float("inf"), "60", True])
def test_a_window_that_is_no_seconds_is_refused(window):
    with pytest.raises(InvalidArgument, match="retry_window must be a finite number of seconds >= 0"):
        Client("http://127.0.0.1:8000", retry_window=window)
