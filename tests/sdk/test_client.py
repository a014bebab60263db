"""The sync Client against the real app in process, in both encodings (binary frames and
JSON) and on both stores: every call, its typed answer, and the exception class of each status."""

from __future__ import annotations

import re
import warnings

import httpx
import numpy as np
import pytest
from sdk_support import bits, quadratic, x0_for, zo_values

import zoadamm
from zoadamm import Client, InvalidArgument, Optimizer, SessionConfig, directions, wire
from zoadamm.sdk import (
    APIError,
    APIStatusError,
    BadRequestError,
    ConflictError,
    NotFoundError,
    Parameters,
    PayloadTooLargeError,
    Session,
    SessionSummary,
    StepInfo,
    TellResult,
    UnprocessableEntityError,
)
from zoadamm.sdk._http import Call

DIM = 9


def _reference(session: Session, x0) -> Optimizer:
    return Optimizer.start(SessionConfig.from_dict(session.config), x0)


def test_create_get_list_delete(sdk):
    x0 = x0_for(DIM)
    a = sdk.sessions.create(DIM, x0=x0, name="a", lr=0.05, directions=3, seed=11)
    b = sdk.sessions.create(4, schedule=None)
    assert isinstance(a, Session)
    assert (a.name, a.dim, a.step, a.has_parameters) == ("a", DIM, 0, True)
    assert a.config["lr"] == 0.05 and a.config["directions"] == 3 and a.config["seed"] == 11
    assert (a.lr, a.mu) == (0.05, a.config["mu"])
    assert b.has_parameters is False and b.config["schedule"] is None
    assert isinstance(b.config["seed"], int)  # drawn by the service

    assert sdk.sessions.get(a.id) == a
    listed = sdk.sessions.list()
    assert [s.id for s in listed] == [a.id, b.id] and all(isinstance(s, SessionSummary) for s in listed)
    assert listed[0].config == a.config and listed[0].name == "a"
    assert [s.id for s in sdk.sessions.list(offset=1, limit=1)] == [b.id]

    assert sdk.sessions.delete(a.id) is None
    with pytest.raises(NotFoundError):
        sdk.sessions.get(a.id)
    assert [s.id for s in sdk.sessions.list()] == [b.id]


def test_ask_returns_the_seed_derived_directions(sdk):
    for distribution in ("sphere", "gaussian"):
        s = sdk.sessions.create(DIM, x0=x0_for(DIM), directions=4, distribution=distribution, seed=2**40 + 3)
        info = sdk.sessions.ask(s.id, vectors=True)
        assert isinstance(info, StepInfo)
        assert (info.step, info.seed, info.directions, info.distribution) == (0, 2**40 + 3, 4, distribution)
        assert (info.method, info.difference, info.lr, info.mu) == ("zo-adamm", "forward", s.lr, s.mu)
        expected = directions(2**40 + 3, 0, 4, DIM, distribution)
        assert info.u.shape == (4, DIM) and info.u.dtype == np.float32
        assert bits(info.u) == bits(expected)
        assert sdk.sessions.ask(s.id).u is None  # only on request


def test_first_ask_sets_x_and_later_asks_check_it(sdk):
    s = sdk.sessions.create(DIM, seed=1)
    with pytest.raises(ConflictError) as no_x:
        sdk.sessions.ask(s.id)
    assert no_x.value.step == 0
    x0 = x0_for(DIM)
    assert sdk.sessions.ask(s.id, x=x0).step == 0
    assert sdk.sessions.get(s.id).has_parameters is True
    assert bits(sdk.sessions.parameters(s.id).x) == bits(x0)
    with pytest.raises(ConflictError) as other_x:
        sdk.sessions.ask(s.id, x=x0 + 1)
    assert other_x.value.step == 0 and other_x.value.status_code == 409


def test_tell_report_history_parameters_agree_with_the_optimizer(sdk):
    f = quadratic(DIM)
    x0 = x0_for(DIM)
    s = sdk.sessions.create(DIM, x0=x0, lr=0.1, directions=2, seed=5, schedule={"patience": 0, "factor": 0.5})
    opt = _reference(s, x0)
    for step in range(6):
        u = sdk.sessions.ask(s.id, vectors=True).u
        values = zo_values(f, opt.state.x, opt.mu, u)
        answer = "x" if step % 2 == 0 else "checksum"
        before = wire.checksum(opt.state.x)
        result = sdk.sessions.tell(s.id, step, f_x=values["f_x"], f_plus=values["f_plus"], answer=answer)
        record = opt.zo_record(values["f_x"], values["f_plus"])
        opt.apply(record)
        assert isinstance(result, TellResult)
        assert (result.step, result.lr, result.mu) == (step + 1, opt.lr, opt.mu)
        if answer == "x":
            assert result.x.dtype == np.float32 and bits(result.x) == bits(opt.state.x)
            assert result.checksum is None
        else:
            assert result.x is None and result.checksum == before and result.step_lr == record.lr
            assert bits(result.coefficients) == bits(record.coefficients)

    # patience 0: the first value sets the best, each later non-improving one halves lr and mu
    entries = [sdk.sessions.report(s.id, v, accuracy=0.5) for v in (3.0, 3.0, 2.0, 2.5)]
    for entry, value in zip(entries, (3.0, 3.0, 2.0, 2.5), strict=True):
        opt.report(value)
        assert (entry["step"], entry["value"], entry["lr"], entry["mu"]) == (6, value, opt.lr, opt.mu)
        assert entry["accuracy"] == 0.5
    assert opt.lr == 0.1 * 0.25  # the schedule did act twice
    history = sdk.sessions.history(s.id)
    assert [h["value"] for h in history] == [3.0, 3.0, 2.0, 2.5]
    assert history == entries
    assert sdk.sessions.history(s.id, last=1) == entries[-1:]
    assert sdk.sessions.get(s.id).recent_metrics == entries

    params = sdk.sessions.parameters(s.id)
    assert isinstance(params, Parameters)
    assert params.step == 6 and bits(params.x) == bits(opt.state.x)
    current = sdk.sessions.get(s.id)
    assert (current.step, current.lr, current.mu) == (6, opt.lr, opt.mu)


def test_central_differences_and_gradient_sessions(sdk):
    f = quadratic(DIM)
    x0 = x0_for(DIM)
    s = sdk.sessions.create(DIM, x0=x0, difference="central", directions=2, seed=8, lr=0.05)
    opt = _reference(s, x0)
    u = directions(8, 0, 2, DIM, "sphere")
    values = zo_values(f, opt.state.x, opt.mu, u, central=True)
    result = sdk.sessions.tell(s.id, 0, f_plus=values["f_plus"], f_minus=values["f_minus"])
    opt.apply(opt.zo_record(None, values["f_plus"], values["f_minus"]))
    assert bits(result.x) == bits(opt.state.x)

    g = sdk.sessions.create(DIM, x0=x0, method="adamm", lr=0.05)
    fo = _reference(g, x0)
    gradient = np.linspace(-1, 1, DIM).astype(np.float32)
    assert sdk.sessions.ask(g.id, vectors=True).u is None  # nothing to regenerate for adamm
    result = sdk.sessions.tell(g.id, 0, gradient=gradient)
    fo.apply(fo.fo_record(gradient))
    assert result.step == 1 and bits(result.x) == bits(fo.state.x)


# --- errors --------------------------------------------------------------------------------
def test_unknown_session_is_not_found(sdk):
    nope = "0" * 32
    for call in (
        lambda: sdk.sessions.get(nope), lambda: sdk.sessions.ask(nope),
        lambda: sdk.sessions.tell(nope, 0, f_x=1.0, f_plus=[1.0]), lambda: sdk.sessions.parameters(nope),
        lambda: sdk.sessions.report(nope, 1.0), lambda: sdk.sessions.delete(nope),
    ):
        with pytest.raises(NotFoundError) as caught:
            call()
        assert caught.value.status_code == 404 and isinstance(caught.value, APIStatusError)
        assert isinstance(caught.value, APIError) and "detail" in caught.value.body


def test_a_session_id_that_is_not_one_is_refused_before_any_call(sdk):
    """An id goes into the call's path: a slash or ".." made it another call (a delete of
    "x/../ID" deleted ID), a "?" added a query.  Anything but 32 lowercase hex digits is
    InvalidArgument, and the session is untouched."""
    victim = sdk.sessions.create(DIM, x0=x0_for(DIM)).id
    for bad in ("nonsense/../" + victim, victim + "/x", victim + "?a=1", victim.upper(), 3, None, ""):
        for call in (sdk.sessions.get, sdk.sessions.delete, sdk.sessions.parameters, sdk.sessions.ask):
            with pytest.raises(InvalidArgument, match="32 lowercase hex digits"):
                call(bad)
    assert sdk.sessions.get(victim).id == victim


def test_stale_and_future_steps_conflict_with_the_session_step(sdk):
    f = quadratic(DIM)
    s = sdk.sessions.create(DIM, x0=x0_for(DIM), seed=3)
    u = sdk.sessions.ask(s.id, vectors=True).u
    values = zo_values(f, x0_for(DIM), s.mu, u)
    first = sdk.sessions.tell(s.id, 0, f_x=values["f_x"], f_plus=values["f_plus"])
    # the same values again are a repeat, answered as the first time; other values are stale
    again = sdk.sessions.tell(s.id, 0, f_x=values["f_x"], f_plus=values["f_plus"])
    assert again.step == 1 and bits(again.x) == bits(first.x)
    with pytest.raises(ConflictError) as stale:
        sdk.sessions.tell(s.id, 0, f_x=values["f_x"] + 1, f_plus=values["f_plus"])
    assert stale.value.step == 1 and stale.value.status_code == 409
    with pytest.raises(ConflictError) as future:
        sdk.sessions.tell(s.id, 5, f_x=1.0, f_plus=[1.0])
    assert future.value.step == 1
    assert sdk.sessions.parameters(s.id).step == 1


def test_unacceptable_values_are_refused(sdk):
    # settings the core refuses: here, before any request
    with pytest.raises(InvalidArgument):
        sdk.sessions.create(DIM, lr=-1.0)
    with pytest.raises(InvalidArgument):
        sdk.sessions.create(DIM, distribution="cauchy")
    with pytest.raises(InvalidArgument):
        sdk.sessions.create(DIM, x0=np.zeros(DIM + 1))
    assert sdk.sessions.list() == []
    s = sdk.sessions.create(DIM, x0=x0_for(DIM), directions=2)
    with pytest.raises(UnprocessableEntityError) as caught:
        sdk.sessions.tell(s.id, 0, f_x=1.0, f_plus=[1.0])  # two directions, one value
    assert caught.value.status_code == 422
    with pytest.raises(UnprocessableEntityError):
        sdk.sessions.tell(s.id, 0, gradient=np.zeros(DIM))  # a zo-adamm session
    with pytest.raises(UnprocessableEntityError):
        sdk.sessions.report(s.id, 1.0, lr=3.0)  # a reserved metric name
    assert sdk.sessions.parameters(s.id).step == 0


def test_non_finite_values(sdk):
    s = sdk.sessions.create(DIM, x0=x0_for(DIM))
    # a NaN in a JSON field can never be sent: both encodings refuse it before sending
    with pytest.raises(ValueError):
        sdk.sessions.tell(s.id, 0, f_x=float("nan"), f_plus=[1.0])
    bad = np.full(DIM, np.nan, dtype=np.float32)
    with pytest.raises(InvalidArgument, match="x0 contains NaN"):  # before sending, in either encoding
        sdk.sessions.create(DIM, x0=bad)
    beyond = [0.0] * (DIM - 1) + [1e39]  # finite, but past float32: the service's words, and no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(InvalidArgument, match="float32-overflowing"):
            sdk.sessions.create(DIM, x0=beyond)
    assert sdk.sessions.parameters(s.id).step == 0


def test_too_large_body(make_app, serve, binary):
    with serve(make_app(max_body_bytes=1024)) as test_client:
        sdk = Client(http_client=test_client, binary=binary)
        with pytest.raises(PayloadTooLargeError) as caught:
            sdk.sessions.create(1000, x0=np.ones(1000))
        assert caught.value.status_code == 413
        assert sdk.sessions.list() == []
        small = sdk.sessions.create(10, x0=np.ones(10))  # the limit is on size, not on calls
        assert small.has_parameters


def test_undecodable_frame_is_a_bad_request(make_app, serve):
    with serve(make_app()) as test_client:
        sdk = Client(http_client=test_client)
        s = sdk.sessions.create(DIM, x0=x0_for(DIM))
        # a frame whose vector repeats a header field cannot be decoded
        call = Call("POST", f"/v1/sessions/{s.id}/ask", {"x": 1}, {"x": np.zeros(DIM, np.float32)})
        with pytest.raises(BadRequestError) as caught:
            sdk.send(call)
        assert caught.value.status_code == 400 and "twice" in caught.value.body["detail"]


def test_import_zoadamm_is_light_and_changes_no_process_state():
    """``import zoadamm`` brings numpy and the standard library only: the SDK's client, the
    workers' machinery, torch and numba load when used.  Tab completion still finds the SDK."""
    import subprocess
    import sys

    probe = ("import sys; before = sys.getswitchinterval(); import zoadamm; "
             "heavy = sorted(m for m in ('httpx', 'torch', 'numba', 'redis', 'fastapi', 'zoadamm_worker', "
             "'zoadamm_service', 'zoadamm.sdk') if m in sys.modules); "
             "found = {'Client', 'minimize', 'RemoteOptimizer'} <= set(dir(zoadamm)); "
             "print(heavy, sys.getswitchinterval() == before, found)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[] True True", out
    # the SDK's own namespace loads on first use too, as ``zoadamm.sdk.X`` (docs/sdk.md writes it so)
    probe = "import zoadamm; print(zoadamm.sdk.fast_switching.__name__, 'sdk' in dir(zoadamm))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "fast_switching True", out


def test_numpy_numbers_are_settings_and_a_nan_report_names_its_field(sdk):
    """Settings from numpy code (``rng.integers(100)`` as a seed, a float32 lr) were a bare
    "not JSON serializable" TypeError; a NaN report was a bare ValueError."""
    session = sdk.sessions.create(np.int64(DIM), x0=x0_for(DIM), seed=np.int64(7), lr=np.float32(0.05),
                                  directions=np.int32(2), schedule={"patience": np.int64(1)})
    assert (session.config["seed"], session.config["directions"], session.config["schedule"]["patience"]) == (7, 2, 1)
    assert session.config["lr"] == float(np.float32(0.05))
    for value, metrics, named in ((np.nan, {}, "value"), (1.0, {"acc": np.inf}, "metrics['acc']"),
                                  ("low", {}, "value")):
        with pytest.raises(InvalidArgument, match=re.escape(named)):
            sdk.sessions.report(session.id, value, **metrics)


def test_a_closed_client_says_so_as_a_zoadamm_error():
    import asyncio

    from zoadamm.sdk import ClientClosedError

    client = zoadamm.Client("http://127.0.0.1:9")
    client.close()
    with pytest.raises(ClientClosedError, match="is closed; make a new one"):
        client.sessions.list()

    async def closed_async() -> None:
        async_client = zoadamm.AsyncClient("http://127.0.0.1:9")
        await async_client.aclose()
        with pytest.raises(zoadamm.ZoadammError, match="AsyncClient of http://127.0.0.1:9 is closed"):
            await async_client.sessions.list()

    asyncio.run(closed_async())


@pytest.mark.parametrize("answer", ["redirect", "empty 200"])
def test_a_redirect_or_an_empty_200_is_no_answer_of_the_service(answer):
    """A zoadamm service answers no redirect and no empty 200: something in front of it does (a
    moved URL, a broken proxy).  Each call says so, where a delete or a tell looked done."""
    from zoadamm.sdk import ForeignServerError

    def handler(request: httpx.Request) -> httpx.Response:
        if answer == "redirect":
            return httpx.Response(308, headers={"location": "http://elsewhere:8000" + request.url.path})
        return httpx.Response(200)

    http = httpx.Client(base_url="http://moved:8000", transport=httpx.MockTransport(handler))
    sdk = zoadamm.Client(http_client=http)
    sid = "0" * 32
    calls = [lambda: sdk.health(), lambda: sdk.sessions.delete(sid), lambda: sdk.sessions.report(sid, 1.0),
             lambda: sdk.sessions.tell(sid, 0, f_x=1.0, f_plus=[0.5]), lambda: sdk.sessions.list()]
    for call in calls:
        with pytest.raises(ForeignServerError) as refused:
            call()
        if answer == "redirect":
            assert "a redirect to http://elsewhere:8000/" in str(refused.value)
            assert "give the client the URL it redirects to as base_url" in str(refused.value)
        else:
            assert "no zoadamm service at http://moved:8000" in str(refused.value)


def test_the_services_errors_and_the_results_cross_processes(local):
    """A worker of a process pool that raises the service's error must not break the pool: the
    error pickles with its status, body and URL; results holding arrays compare as objects."""
    import pickle

    sid = local.sessions.create(DIM, x0=x0_for(DIM), directions=1).id
    with pytest.raises(ConflictError) as conflict:
        local.sessions.tell(sid, 5, f_x=1.0, f_plus=[1.0])
    with pytest.raises(NotFoundError) as missing:
        local.sessions.get("0" * 32)
    for error in (conflict.value, missing.value):
        again = pickle.loads(pickle.dumps(error))
        assert type(again) is type(error) and str(again) == str(error)
        assert (again.status_code, again.body, again.url) == (error.status_code, error.body, error.url)
    assert pickle.loads(pickle.dumps(conflict.value)).step == conflict.value.step == 0
    answer = local.sessions.parameters(sid)
    assert answer == answer and answer != local.sessions.parameters(sid)  # no array truth value raised
