"""The retry policy, with failures injected by ``httpx.MockTransport`` in front of the real app.

No test waits: the client's sleep is replaced by one that records the delays it was asked for.
"""

from __future__ import annotations

import logging
import time
import types

import httpx
import pytest
from sdk_support import bits, quadratic, through, x0_for, zo_values

from zoadamm import Client, Optimizer, SessionConfig, directions, wire
from zoadamm.sdk import (
    APIConnectionError,
    APITimeoutError,
    InternalServerError,
    NotFoundError,
    RateLimitError,
    ServiceUnavailableError,
)
from zoadamm.sdk._http import RetryPolicy

DIM = 6


@pytest.fixture
def sleeps(monkeypatch) -> list[float]:
    """The delays the sync client slept (it does not really sleep)."""
    slept: list[float] = []
    monkeypatch.setattr("zoadamm.sdk.client.time", types.SimpleNamespace(sleep=slept.append, monotonic=time.monotonic))
    return slept


class Faults:
    """A MockTransport handler: ``plan`` says what each matching request gets, in order:
    an exception class (raised before the app sees the request), ``("after", exc)`` (the app
    processes the request, then the answer is lost), or a status (with optional headers)."""

    def __init__(self, test_client, plan: list, match=lambda request: True) -> None:
        self.app = through(test_client)
        self.plan = list(plan)
        self.match = match
        self.seen: list[httpx.Request] = []
        self.lost: list[httpx.Response] = []  # answers the app gave that never arrived

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if not self.match(request) or not self.plan:
            return self.app(request)
        self.seen.append(request)
        fault = self.plan.pop(0)
        if isinstance(fault, tuple) and fault[0] == "after":
            self.lost.append(self.app(request))
            raise fault[1]("connection reset while reading the answer", request=request)
        if isinstance(fault, type):
            raise fault("injected", request=request)
        if fault is None:
            return self.app(request)
        status, headers = fault if isinstance(fault, tuple) else (fault, {})
        return httpx.Response(status, headers=headers, json={"detail": "injected"})

    def client(self, **kwargs) -> Client:
        http = httpx.Client(transport=httpx.MockTransport(self), base_url="http://test")
        return Client(http_client=http, **kwargs)


def _tells(request: httpx.Request) -> bool:
    return request.url.path.endswith("/tell")


def _creates(request: httpx.Request) -> bool:
    return request.method == "POST" and request.url.path == "/v1/sessions"


def _gets(request: httpx.Request) -> bool:
    return request.method == "GET"


def test_connection_errors_are_retried_with_growing_backoff(test_client, sleeps):
    errors = [httpx.ConnectError, httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError]
    faults = Faults(test_client, errors, _gets)
    sdk = faults.client()
    s = sdk.sessions.create(DIM, x0=x0_for(DIM))
    assert sdk.sessions.get(s.id) == s
    assert len(faults.seen) == 4 and len(sleeps) == 4
    policy = RetryPolicy()
    for attempt, delay in enumerate(sleeps):  # full jitter on a capped exponential
        ceiling = min(policy.max_delay, policy.base_delay * 2**attempt)
        assert 0.5 * ceiling <= delay <= ceiling


@pytest.mark.parametrize("status, error", [
    (503, ServiceUnavailableError), ((429, {"Retry-After": "1"}), RateLimitError), (500, InternalServerError),
    (502, InternalServerError)])
def test_retryable_statuses_are_retried_then_succeed(test_client, sleeps, status, error):
    faults = Faults(test_client, [status, status], _gets)
    sdk = faults.client()
    s = sdk.sessions.create(DIM, x0=x0_for(DIM))
    assert bits(sdk.sessions.parameters(s.id).x) == bits(x0_for(DIM))
    assert len(faults.seen) == 2 and len(sleeps) == 2

    # once the retries are used up, the status's own error comes out
    exhausted = Faults(test_client, [status] * 3, _gets)
    with pytest.raises(error) as caught:
        exhausted.client(max_retries=2).sessions.get(s.id)
    assert caught.value.status_code == (status[0] if isinstance(status, tuple) else status)
    assert caught.value.body == {"detail": "injected"}
    assert len(exhausted.seen) == 3


def test_client_errors_are_not_retried(test_client, sleeps):
    faults = Faults(test_client, [404, None], _gets)
    with pytest.raises(NotFoundError):
        faults.client().sessions.get("0" * 32)
    assert len(faults.seen) == 1 and sleeps == []


def test_exhausted_connection_retries_raise_connection_errors(test_client, sleeps):
    faults = Faults(test_client, [httpx.ConnectError] * 4)
    with pytest.raises(APIConnectionError) as caught:
        faults.client(max_retries=3).sessions.list()
    assert not isinstance(caught.value, APITimeoutError)
    assert isinstance(caught.value.__cause__, httpx.ConnectError)
    assert len(faults.seen) == 4 and len(sleeps) == 3

    timeouts = Faults(test_client, [httpx.ReadTimeout] * 2)
    with pytest.raises(APITimeoutError):
        timeouts.client(max_retries=1).sessions.list()
    assert len(timeouts.seen) == 2

    no_retries = Faults(test_client, [httpx.ConnectError])
    with pytest.raises(APIConnectionError):
        no_retries.client(max_retries=0).sessions.list()
    assert len(no_retries.seen) == 1 and len(sleeps) == 4


@pytest.mark.parametrize("answer", ["x", "checksum"])
def test_a_tell_whose_answer_is_lost_is_applied_once(test_client, sleeps, answer):
    f = quadratic(DIM)
    faults = Faults(test_client, [("after", httpx.ReadError), ("after", httpx.ReadError)], _tells)
    sdk = faults.client()
    x0 = x0_for(DIM)
    s = sdk.sessions.create(DIM, x0=x0, directions=2, seed=9, lr=0.1)
    opt = Optimizer.start(SessionConfig.from_dict(s.config), x0)
    values = zo_values(f, x0, s.mu, directions(9, 0, 2, DIM, "sphere"))
    checksum_before = wire.checksum(x0)

    result = sdk.sessions.tell(s.id, 0, f_x=values["f_x"], f_plus=values["f_plus"], answer=answer)
    opt.apply(opt.zo_record(values["f_x"], values["f_plus"]))

    assert len(faults.seen) == 2 and len(faults.lost) == 2 and len(sleeps) == 2
    assert all(lost.status_code == 200 for lost in faults.lost)  # the app did apply it, then the answer was lost
    assert sdk.sessions.parameters(s.id).step == 1  # once, not three times
    assert bits(sdk.sessions.parameters(s.id).x) == bits(opt.state.x)
    first, repeat = (wire.decode(lost.content) for lost in faults.lost)
    assert first[0] == repeat[0]
    assert {k: bits(v) for k, v in first[1].items()} == {k: bits(v) for k, v in repeat[1].items()}
    assert result.step == first[0]["step"] == 1
    if answer == "x":
        assert bits(result.x) == bits(first[1]["x"]) == bits(opt.state.x)
    else:
        assert result.checksum == first[0]["checksum"] == checksum_before
        assert result.coefficients.tolist() == first[0]["coefficients"]


def test_a_create_whose_answer_was_lost_is_retried_and_made_once(test_client, sleeps):
    faults = Faults(test_client, [("after", httpx.ReadError), 500], _creates)
    sdk = faults.client()
    s = sdk.sessions.create(DIM, name="lost")
    assert len(faults.seen) == 2 and len(sleeps) == 2  # two faults, then the answer
    # every try carried the same Idempotency-Key, so the service made one session and answered it
    assert len({r.headers["idempotency-key"] for r in faults.seen}) == 1
    assert [(x.id, x.name) for x in sdk.sessions.list()] == [(s.id, "lost")]


def test_a_delete_whose_answer_was_lost_is_done_when_its_retry_finds_nothing(test_client, sleeps):
    """The retry of a DELETE that reached the service gets 404: the session is gone, as asked
    (the SDK raised NotFoundError, and a loop deleting finished sessions stopped there)."""
    sdk = Client(http_client=test_client)
    doomed, kept = sdk.sessions.create(DIM, name="doomed"), sdk.sessions.create(DIM, name="kept")
    faults = Faults(test_client, [("after", httpx.ReadError)], lambda r: r.method == "DELETE")
    faults.client().sessions.delete(doomed.id)
    assert len(faults.seen) == 1 and len(faults.lost) == 1 and faults.lost[0].status_code == 204
    assert [s.id for s in sdk.sessions.list()] == [kept.id]
    with pytest.raises(NotFoundError):  # a first try that finds nothing is still an error
        sdk.sessions.delete(doomed.id)


def test_create_is_retried_when_the_request_never_left(test_client, sleeps):
    faults = Faults(test_client, [httpx.ConnectError, httpx.ConnectTimeout], _creates)
    sdk = faults.client()
    s = sdk.sessions.create(DIM, name="once")
    assert len(faults.seen) == 2 and len(sleeps) == 2
    assert [x.id for x in sdk.sessions.list()] == [s.id]


def test_create_is_retried_on_429_and_5xx(test_client, sleeps):
    faults = Faults(test_client, [(429, {"Retry-After": "1"}), 503, 500], _creates)
    sdk = faults.client()
    sdk.sessions.create(DIM, name="after-busy")
    assert len(faults.seen) == 3 and len(sleeps) == 3
    assert [s.name for s in sdk.sessions.list()] == ["after-busy"]


def test_a_429_without_retry_after_is_a_quota_and_final(test_client, sleeps):
    """The service's quotas answer 429 without Retry-After (waiting does not free them): the SDK
    raises at once where a rate limit's 429 is waited out."""
    faults = Faults(test_client, [429, None], _creates)
    with pytest.raises(RateLimitError):
        faults.client().sessions.create(DIM, name="over")
    assert len(faults.seen) == 1 and sleeps == []


def test_retry_after_is_waited_out_in_full_up_to_a_minute_and_a_longer_one_is_final(test_client, sleeps, caplog):
    """A per-minute rate limit says "retry in 52 s": tries sent sooner are all refused, and the
    call gave up before the limit would have let it through."""
    faults = Faults(test_client, [
        (503, {"Retry-After": "3"}), (429, {"Retry-After": "0.5"}), (429, {"Retry-After": "52"})])
    sdk = faults.client()
    with caplog.at_level(logging.WARNING, logger="zoadamm"):
        assert sdk.sessions.list() == []
    policy = RetryPolicy()
    assert sleeps == [3.0, 0.5, 52.0]
    assert "answered 429; waiting 52 s as its Retry-After asks" in caplog.text
    longer = Faults(test_client, [(429, {"Retry-After": "61"})])
    with pytest.raises(RateLimitError) as final:
        longer.client().sessions.list()
    assert len(longer.seen) == 1 and len(sleeps) == 3
    # when to try again, which a gateway's own body ("injected") does not say
    assert str(final.value).startswith("429 injected; try again after 61 s (GET "), final.value
    # unless the call's retry window has that long left
    windowed = Faults(test_client, [(429, {"Retry-After": "100"})])
    with windowed.client(retry_window=300) as sdk:
        assert sdk.sessions.list() == []
    assert sleeps[-1] == 100.0

    # without the header, or with one that is not a number of seconds, backoff decides
    for value in ("soon", "\u00b2"):  # a superscript 2 is a digit to str.isdigit, not to float
        unusual = Faults(test_client, [(503, {"Retry-After": value.encode("latin-1")})])
        unusual.client().sessions.list()
        assert 0.5 * policy.base_delay <= sleeps[-1] <= policy.base_delay


def test_retry_after_as_an_http_date(test_client, sleeps, monkeypatch):
    now = 1_700_000_000.0
    monkeypatch.setattr("zoadamm.sdk._http.time", types.SimpleNamespace(time=lambda: now, monotonic=time.monotonic))
    date = "Tue, 14 Nov 2023 22:13:24 GMT"  # now + 4 s
    past = "Tue, 14 Nov 2023 22:00:00 GMT"
    faults = Faults(test_client, [(503, {"Retry-After": date}), (503, {"Retry-After": past})])
    faults.client().sessions.list()
    policy = RetryPolicy()
    assert sleeps[0] == 4.0
    # a date already past asks for no wait: the backoff of the second retry is the floor
    assert 0.5 * 2 * policy.base_delay <= sleeps[1] <= 2 * policy.base_delay


def test_retries_of_a_shed_burst_spread_beyond_its_retry_after(test_client, sleeps):
    """Every caller of a burst gets the same Retry-After: never waiting less, the retries still
    spread out and lengthen with the backoff."""
    faults = Faults(test_client, [(503, {"Retry-After": "1"})] * 5)
    faults.client().sessions.list()
    policy = RetryPolicy()
    assert all(s >= 1.0 for s in sleeps) and len(sleeps) == 5
    assert 0.5 * policy.base_delay * 2**4 <= sleeps[-1] <= policy.base_delay * 2**4


def _reports(request: httpx.Request) -> bool:
    return request.method == "POST" and request.url.path.endswith("/metrics")


def test_a_metric_whose_answer_was_lost_is_counted_once(test_client, sleeps):
    # The plateau schedule counts every report; the report's Idempotency-Key, the same on each
    # try, makes the service count it once however often it arrives.
    faults = Faults(test_client, [("after", httpx.ReadError), httpx.ConnectError, ("after", httpx.ReadError), 503],
                    _reports)
    sdk = faults.client()
    s = sdk.sessions.create(DIM, x0=x0_for(DIM), schedule={"patience": 0})
    entry = sdk.sessions.report(s.id, 2.0)
    assert len(faults.seen) == 4 and len(sleeps) == 4
    assert len({r.headers["idempotency-key"] for r in faults.seen}) == 1
    assert [h["value"] for h in sdk.sessions.history(s.id)] == [2.0]
    second = sdk.sessions.report(s.id, 2.0)  # a new call: a new key, a new report
    assert [h["value"] for h in sdk.sessions.history(s.id)] == [2.0, 2.0]
    opt = Optimizer.start(SessionConfig.from_dict(s.config), x0_for(DIM))
    opt.report(2.0)
    assert (entry["lr"], entry["mu"]) == (opt.lr, opt.mu) == (s.lr, s.mu)  # one plateau report: no change yet
    opt.report(2.0)
    assert (second["lr"], second["mu"]) == (opt.lr, opt.mu) == (s.lr / 2, s.mu / 2)
