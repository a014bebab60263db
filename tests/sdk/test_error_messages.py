"""What the SDK's errors say: the field and the reason of a 422, how to give the API key on a
401, and "no zoadamm service" when another HTTP server answers.

The answers come from real servers: the app built by the service's factory, and Python's own
``python -m http.server`` in a process of its own (``other_server.http_server``).
"""

from __future__ import annotations

import re
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest
import torch
from other_server import http_server
from sdk_support import x0_for

from zoadamm import Client, InvalidArgument, RemoteOptimizer, minimize
from zoadamm.sdk import AuthenticationError, ForeignServerError, NotFoundError, UnprocessableEntityError
from zoadamm_service.tenants import entry


def _refusal(client: Client, **settings) -> UnprocessableEntityError:
    with pytest.raises(UnprocessableEntityError) as caught:
        RemoteOptimizer.create(client, np.zeros(3), **settings)
    assert client.sessions.list() == []  # refused before anything was made
    return caught.value


def test_an_unknown_setting_is_named_with_the_one_meant(sdk):
    def refused_here(**settings) -> str:  # by the SDK, before any request
        with pytest.raises(InvalidArgument) as caught:
            RemoteOptimizer.create(sdk, np.zeros(3), **settings)
        return str(caught.value)

    assert refused_here(learning_rate=0.1) == "learning_rate: unknown setting (did you mean lr?)"
    assert "did you mean directions?" in refused_here(directons=2)
    nothing_close = refused_here(colour="blue")
    assert nothing_close.startswith("colour: unknown setting; the settings are ")
    assert "did you mean" not in nothing_close
    # minimize's scipy-style bounds are a create's constraint
    assert refused_here(bounds=[0.0, 1.0]) == "bounds: unknown setting (did you mean constraint?)"
    assert sdk.sessions.list() == []
    # inside a setting, the service's 422 says the same
    error = _refusal(sdk, schedule={"factr": 0.5})
    assert str(error).startswith("422 schedule.factr: unknown setting (did you mean factor?) (POST ")
    meant = "Extra inputs are not permitted (did you mean factor?)"  # the service's own words, for any client
    assert error.body == {"detail": f"invalid request: schedule.factr: {meant}", "errors": [
        {"loc": ["schedule", "factr"], "msg": meant, "type": "extra_forbidden"}]}


def test_a_tell_without_f_plus_says_what_it_needs(sdk):
    run = RemoteOptimizer.create(sdk, x0_for(3))
    with pytest.raises(InvalidArgument, match=r"tell needs f_plus, .*tell_gradient"):
        run.tell(f_x=1.0)
    assert run.step == 0


def test_pipeline_without_the_mirror_is_refused_before_a_session_is_made(sdk):
    before = len(sdk.sessions.list())
    with pytest.raises(InvalidArgument, match="pipeline=True needs mirror=True"):
        RemoteOptimizer.create(sdk, x0_for(3), pipeline=True)
    assert len(sdk.sessions.list()) == before


def test_a_value_out_of_range_is_refused_before_any_request_naming_it(sdk):
    """The core's own checks, made here: an InvalidArgument (a ValueError) whether or not a
    service answers, where it came back as the service's 422 (or, with none, after the retries)."""
    def refused_here(**settings) -> str:
        with pytest.raises(InvalidArgument) as caught:
            RemoteOptimizer.create(sdk, np.zeros(3), **settings)
        return str(caught.value)

    assert refused_here(lr=-1.0) == "lr must be finite and > 0, got -1.0"
    assert refused_here(directions=0) == "directions must be an integer >= 1, got 0"
    assert refused_here(distribution="uniform").startswith("distribution must be one of sphere, gaussian")
    assert refused_here(beta1=1.0) == "beta1 must be in [0, 1), got 1.0"
    assert sdk.sessions.list() == []
    with Client("http://127.0.0.1:9", retry_window=60) as nowhere:  # nothing listens: no wait for it
        with pytest.raises(InvalidArgument, match="lr must be finite"):
            minimize(lambda x: 1.0, np.zeros(3), steps=1, client=nowhere, progress=False, lr=-1)
    # limits only the service knows (here d beyond its largest) still come back as its 422
    with pytest.raises(UnprocessableEntityError, match="dim"):
        sdk.sessions.create(10**9)
    # the seed's range is the wire's (JSON's exact integers), known here: the core's [0, 2**64) was
    # named for 2**64, and a 2**60 went to the service's 422
    for seed in (2**64, 2**60, -1):
        with pytest.raises(InvalidArgument, match=r"^seed must be an integer in \[0, 2\^53 - 1 = 9007199254740991\]"):
            sdk.sessions.create(3, seed=seed)
    assert sdk.sessions.list() == []


def test_minimize_says_the_same(local):
    with pytest.raises(InvalidArgument, match=r"learning_rate: unknown setting \(did you mean lr\?\)"):
        minimize(lambda x: float(np.sum(x**2)), np.zeros(3), steps=1, client=local, progress=False,
                 learning_rate=0.1)


def test_a_non_finite_value_is_refused_by_name_before_sending(local):
    session = local.sessions.create(3, x0=x0_for(3))
    with pytest.raises(InvalidArgument, match="f_x contains NaN"):
        local.sessions.tell(session.id, 0, f_x=float("nan"), f_plus=[1.0])
    with pytest.raises(InvalidArgument, match="f_plus contains NaN"):
        local.sessions.tell(session.id, 0, f_x=1.0, f_plus=[float("inf")])
    assert local.sessions.get(session.id).step == 0


@pytest.fixture
def keyed(make_app, serve):
    with serve(make_app(api_keys=entry("team", "the-right-key"))) as test_client:
        yield test_client


@pytest.mark.parametrize("key", [None, "a-wrong-key"], ids=["no key", "wrong key"])
def test_a_401_says_how_to_give_the_key(keyed, key, monkeypatch):
    monkeypatch.delenv("ZOADAMM_API_KEY", raising=False)
    with pytest.raises(AuthenticationError) as caught:
        Client(http_client=keyed, api_key=key).sessions.list()
    message = str(caught.value)
    assert message.startswith("401 ") and caught.value.status_code == 401
    assert "Client(api_key=...)" in message and "ZOADAMM_API_KEY" in message
    said = "needs an API key" if key is None else "refused the API key sent"
    assert said in message and "the-right-key" not in message and (key is None or key not in message)
    assert Client(http_client=keyed, api_key="the-right-key").sessions.list() == []


@pytest.mark.parametrize("key", ["", "zk_é", "zk two", "zk\n"], ids=["empty", "not ascii", "space", "newline"])
def test_a_key_that_cannot_be_a_bearer_token_is_invalid_argument_and_not_shown(key, monkeypatch):
    """Such a key used to fail later, as a broken connection or an encoding error."""
    from zoadamm import AsyncClient

    for make in (Client, AsyncClient):
        with pytest.raises(InvalidArgument, match="api_key must be a non-empty API key of printable ASCII") as caught:
            make("http://127.0.0.1:9", api_key=key)
        assert not key or key not in str(caught.value)
    monkeypatch.setenv("ZOADAMM_API_KEY", "zk é")
    with pytest.raises(InvalidArgument, match=r"\$ZOADAMM_API_KEY must be"):
        Client("http://127.0.0.1:9")


@pytest.fixture(scope="module")
def other_server(tmp_path_factory):
    """Another HTTP server, with a page named healthz."""
    folder = tmp_path_factory.mktemp("site")
    (folder / "healthz").write_text("<html>a page, not an API</html>")
    with http_server(folder) as url:
        yield url


def test_another_http_server_is_no_zoadamm_service(other_server):
    with Client(other_server, max_retries=0) as client:
        with pytest.raises(ForeignServerError) as post:  # http.server answers a POST with 501
            RemoteOptimizer.create(client, np.zeros(3))
        assert str(post.value).startswith(f"no zoadamm service at {other_server}: POST {other_server}/v1/sessions "
                                          "was answered 501 Unsupported method")
        assert post.value.status_code == 501
        with pytest.raises(ForeignServerError, match="was answered 404 File not found by another HTTP server"):
            client.sessions.get("a" * 32)  # its HTML 404 page: not a missing session
        with pytest.raises(ForeignServerError, match="was answered 200 OK by another HTTP server"):
            client.health(retry=False)  # a page where the health check should be
    with Client(other_server + "/prefix", max_retries=0) as client, pytest.raises(ForeignServerError) as caught:
        client.sessions.list()
    assert str(caught.value).startswith(f"no zoadamm service at {other_server}/prefix: GET ")


def test_https_to_a_server_of_plain_http_says_so_at_once(other_server, monkeypatch):
    """The URL's scheme is the mistake: the error says to use http://, and no retry is waited out."""
    from zoadamm.sdk import APIConnectionError

    slept = []
    monkeypatch.setattr("zoadamm.sdk.client.time.sleep", slept.append)
    with Client(other_server.replace("http://", "https://"), max_retries=3) as client:
        with pytest.raises(APIConnectionError, match="the server there speaks plain HTTP, not TLS .*give the client "
                                                     "an http:// URL"):
            client.sessions.list()
    assert slept == []


def test_a_zoadamm_404_stays_a_not_found(local):
    with pytest.raises(NotFoundError) as caught:
        local.sessions.get("0" * 32)
    assert not isinstance(caught.value, ForeignServerError) and not caught.value.no_such_path


@pytest.mark.parametrize("make", ["Client", "AsyncClient"])
def test_a_client_is_checked_when_it_is_made(make):
    """A URL without a scheme was taken and then retried for seconds as a doubled URL; None, a
    number, a string timeout or retry count failed inside httpx on the first call."""
    import zoadamm

    cls = getattr(zoadamm, make)
    for kwargs, named in (({"base_url": "127.0.0.1:8000"}, "base_url"), ({"base_url": None}, "base_url"),
                          ({"base_url": 123}, "base_url"), ({"base_url": "ftp://host"}, "base_url"),
                          ({"timeout": "x"}, "timeout"), ({"timeout": 0}, "timeout"),
                          ({"max_retries": "3"}, "max_retries"), ({"max_retries": -1}, "max_retries")):
        with pytest.raises(InvalidArgument, match=named):
            cls(**kwargs)
    assert hasattr(cls, "health")  # the async client checks a service too
    import httpx

    made = cls(base_url=httpx.URL("http://127.0.0.1:9"), timeout=(1.0, 2.0, 3.0, 4.0), max_retries=np.int64(3))
    assert made.retry.max_retries == 3  # what httpx took before is taken still


def test_wrong_types_are_invalid_arguments_not_python_errors(local):
    """A string step, a URL where a client goes, a string lease, a mirror tell without f_x: each
    was a TypeError, ValueError or AttributeError from inside the SDK, or a message about NaN."""
    from zoadamm.sdk.shared import SharedRun

    session = local.sessions.create(3, x0=np.zeros(3, np.float32), directions=2)
    with pytest.raises(InvalidArgument, match="step must be a whole number"):
        local.sessions.tell(session.id, "a", f_x=1.0, f_plus=[1.0, 1.0])
    with pytest.raises(InvalidArgument, match="client must be a zoadamm Client"):
        RemoteOptimizer.create("http://127.0.0.1:8000", np.zeros(3))
    with pytest.raises(InvalidArgument, match="lease must be a whole number"):
        SharedRun(local, session.id, np.zeros(3), lease="2")
    with RemoteOptimizer.create(local, np.zeros(3), mirror=True, directions=2) as run:
        with pytest.raises(InvalidArgument, match="f_x is required"):
            run.tell(f_plus=[1.0, 1.0])
        assert run.step == 0


def test_a_constraint_of_no_zoadamm_class_names_the_classes_it_takes(local):
    """("l2", 1.0) was refused with "constraint must be an object": JSON's word, no Python type."""
    said = r"constraint must be a zoadamm.Ball, Box or FeasibleSet, or the dict of one .* got \('l2', 1.0\)"
    with pytest.raises(InvalidArgument, match=said):
        minimize(lambda x: float(x @ x), np.ones(3), client=local, steps=2, constraint=("l2", 1.0))
    with pytest.raises(InvalidArgument, match=said):
        RemoteOptimizer.create(local, np.ones(3), constraint=("l2", 1.0))
    assert local.sessions.list() == []  # refused before any session was made


def test_a_table_of_values_or_a_bad_index_is_refused_not_flattened_or_wrapped(local):
    """A (2, 2) f_plus was flattened into four values and applied; a direction index of -1 was
    direction q - 1 (Python's negative indexing), 7 of q = 4 a numpy IndexError, 1.5 direction 1."""
    from zoadamm.sdk.shared import SharedRun

    session = local.sessions.create(3, x0=np.zeros(3, np.float32), directions=4)
    with pytest.raises(InvalidArgument, match=r"f_plus must be a flat list of values.*shape \(2, 2\)"):
        local.sessions.tell(session.id, 0, f_x=1.0, f_plus=np.ones((2, 2)))
    with pytest.raises(InvalidArgument, match="indices must be whole numbers"):
        local.sessions.tell(session.id, 0, f_x=1.0, f_plus=[1.0], indices=[1.5])
    with RemoteOptimizer.create(local, np.zeros(3), mirror=True, directions=4) as run:
        with pytest.raises(InvalidArgument, match="f_plus must be a flat list"):
            run.tell(f_x=1.0, f_plus=np.ones((2, 2)))
        run.tell(f_x=1.0, f_plus=np.full((4, 1), 2.0))  # a batch's column of values is one per direction
        assert run.step == 1
    run = SharedRun(local, session.id, np.zeros(3), lease=2)
    run.directions([0, 1, 2, 3])  # every row made: the indices are still checked
    for index, says in ((7, "outside"), (-1, "outside"), (1.5, "is an integer")):
        with pytest.raises(InvalidArgument, match=says):
            run.directions([index])
    assert local.sessions.get(session.id).step == 0


def test_a_misspelt_argument_of_minimize_is_named_with_the_one_meant(local):
    f = lambda x: float(np.sum(x**2))  # noqa: E731
    with pytest.raises(InvalidArgument, match=r"^step: unknown setting \(did you mean steps\?\)$"):
        minimize(f, np.zeros(3), client=local, progress=False, step=10)
    # minimize takes no dim and its own bounds: hints named them ("did you mean dim?" for dim=3)
    for given, said in [({"dim": 3}, "dim: unknown setting (d is x0's length here)"),
                        ({"dimension": 3}, "dimension: unknown setting (d is x0's length here)"),
                        ({"dims": 3}, "dims: unknown setting (d is x0's length here)"),  # was "did you mean mu?"
                        ({"Dim": 3}, "Dim: unknown setting (d is x0's length here)"),
                        ({"bound": (0, 1)}, "bound: unknown setting (did you mean bounds?)"),
                        ({"maxiter": 5}, "maxiter: unknown setting (did you mean steps?)")]:
        with pytest.raises(InvalidArgument) as refused:
            minimize(f, np.zeros(3), client=local, progress=False, **given)
        assert str(refused.value) == said
    # an f that is no callable: refused first (a TypeError once the session was made), swapped or not
    with pytest.raises(InvalidArgument, match=r"^f must be the objective, a callable taking x; got 3.0$"):
        minimize(3.0, np.zeros(3), client=local, progress=False)
    with pytest.raises(InvalidArgument, match="; f comes first, then x0$"):
        minimize(np.zeros(3), f, client=local, progress=False)
    assert local.sessions.list() == []


def test_an_empty_base_url_or_name_and_two_services_are_refused(local):
    """base_url="" ran on 127.0.0.1:8000, name="" made a session of no name, and a client beside
    a base_url left one of them unused: each is refused before any request."""
    f = lambda x: float(np.sum(x**2))  # noqa: E731
    for given, said in [({"base_url": ""}, "base_url must be an http:// or https:// URL with a host"),
                        ({"client": local, "name": ""}, "name must be a session's name with something in it, "
                                                        "or None; got ''"),
                        ({"client": local, "name": " "}, "name must be a session's name with something in it"),
                        ({"client": local, "base_url": "http://127.0.0.1:9"},
                         "give client or base_url, not both (a client already names its service)")]:
        with pytest.raises(InvalidArgument) as refused:
            minimize(f, np.zeros(3), steps=2, progress=False, **given)
        assert str(refused.value).startswith(said), refused.value
    assert local.sessions.list() == []


def test_a_run_whose_probes_never_change_f_says_why_x_did_not_move(local, caplog):
    """f computed in float32 at d = 1e5 rounds every probe's difference away: the steps carry no
    signal, and the run says so rather than end silently where it began."""
    def f(x):
        return float(np.sum((x - 3.0) ** 2))  # float32 x: a float32 sum

    result = minimize(f, np.zeros(100_000), steps=3, client=local, progress=False, lr=0.05, seed=1)
    assert result.fun == f(np.zeros(100_000, dtype=np.float32))
    said = [r.getMessage() for r in caplog.records if r.name == "zoadamm"]
    assert any("gave the same value at x and at every probe x + mu u in all 3 steps" in m for m in said), said


def test_interrupted_is_importable_from_the_sdk_and_survives_pickling():
    import pickle

    from zoadamm.sdk import Interrupted

    stop = pickle.loads(pickle.dumps(Interrupted("interrupted at step 3", "ab" * 16, 3)))
    assert (str(stop), stop.session_id, stop.step) == ("interrupted at step 3", "ab" * 16, 3)
    assert isinstance(stop, KeyboardInterrupt)


def test_minimize_runs_without_a_stderr(local, monkeypatch):
    """A program started with stderr closed (2>&-, pythonw) has sys.stderr None: no bar to draw."""
    monkeypatch.setattr("sys.stderr", None)
    result = minimize(lambda x: float(np.sum(x**2)), np.ones(3), steps=3, client=local, seed=1)
    assert result.steps == 3


@pytest.mark.parametrize("returned, said", [
    (10**400, "the objective returned an int beyond float64's range"),
    (float("nan"), "the objective returned nan; the service's methods need finite values"),
    ("0.5", "the objective must return one number; it returned the string '0.5'"),
])
def test_a_bad_value_of_the_objective_is_an_objective_error(local, returned, said):
    from zoadamm import ObjectiveError, ZoadammError

    with pytest.raises(ObjectiveError, match=said) as caught:
        minimize(lambda x: returned, np.zeros(3), steps=2, client=local, progress=False, seed=1)
    assert isinstance(caught.value, ZoadammError) and isinstance(caught.value, ValueError)


@pytest.mark.parametrize("returned, said", [
    (np.complex128(1 + 2j), "a complex128 (np.complex128(1+2j))"), (1 + 2j, "a complex"),
    (np.array([1 + 2j]), "a complex128 array of shape (1,)"), (True, "a bool"), (np.True_, "a bool (np.True_)"),
    (np.array(False), "a bool array of shape ()"),
    # text, objects and torch booleans were read as numbers: f = 3.5, 1.0, 1.0
    (np.array(["3.5"]), "a <U3 array of shape (1,)"), (np.array([True], dtype=object), "an object array of shape (1,)"),
    (torch.tensor(True), "a Tensor of shape ()"),
])
def test_a_complex_or_boolean_value_of_the_objective_is_refused(local, returned, said):
    """float() took NumPy's complex without its imaginary part and a bool as 0 or 1: each is
    refused as Python's complex was, in the words of every other value that is no number."""
    from zoadamm import ObjectiveError

    with pytest.raises(ObjectiveError, match=re.escape(f"the objective must return one number; it returned {said}")):
        minimize(lambda x: returned, np.zeros(3), steps=2, client=local, progress=False, seed=1)
    assert local.sessions.list() == []  # refused at x0, before the first step: the new session is gone


@pytest.mark.parametrize("mirror", [False, True])
def test_values_that_are_no_numbers_are_refused_alike_in_every_mode(local, mirror):
    run = RemoteOptimizer.create(local, np.zeros(3), mirror=mirror, seed=1)
    with pytest.raises(InvalidArgument, match="f_plus must be a number or numbers, got"):
        run.tell(f_x=1.0, f_plus=["a"])
    with pytest.raises(InvalidArgument, match="f_x must be a number or numbers"):
        run.tell(f_x=10**400, f_plus=[1.0])
    # numpy read "1" as 1, True as 1 and None as NaN: the SDK took what the API refuses
    for f_x, f_plus in (("1", [1.0]), (1.0, ["1"]), (True, [1.0]), (1.0, [None])):
        with pytest.raises(InvalidArgument, match="text, booleans, None, complex numbers and dates are no"):
            run.tell(f_x=f_x, f_plus=f_plus)
    with pytest.raises(InvalidArgument, match="value must be a number or numbers, got '1': text"):
        run.report("1")
    with pytest.raises(InvalidArgument, match="value must be a number or numbers, got None: text"):
        run.report(None)  # was "contains NaN or infinite values"
    with pytest.raises(InvalidArgument, match=r"^value must be one number, got 2 values$"):
        run.report([1.0, 2.0])  # was numpy's TypeError
    # a boolean or text among numbers in an array or a tensor too (a list of floats with one
    # boolean reads as numbers: numbers() says why)
    for f_plus in (np.array(["1.5", "2"], dtype=object), np.array([True, False]), torch.tensor([True]),
                   np.array(["2020-01-01"], dtype="datetime64[D]"), np.array([np.array(True)], dtype=object)):
        with pytest.raises(InvalidArgument, match="f_plus must be (real|a number or) numbers, got .*no numbers"):
            run.tell(f_x=1.0, f_plus=f_plus)
    with pytest.raises(InvalidArgument, match="f_x must be a number or numbers, got <memory"):
        run.tell(f_x=memoryview(b"1"), f_plus=[1.0])  # was 49.0, the byte's code
    # real numbers in other forms still pass: a loss that requires grad (was torch's RuntimeError)
    run.report(torch.tensor(2.0, requires_grad=True), fraction=Fraction(1, 3), decimal=Decimal("0.5"))
    with pytest.raises(InvalidArgument, match=r"x0 must be a number or numbers, got \['1', '2', '3'\]"):
        RemoteOptimizer.create(local, ["1", "2", "3"], seed=1)
    assert run.step == 0 and len(local.sessions.list()) == 1


@pytest.mark.parametrize("mirror", [False, True])
def test_complex_numbers_and_text_arrays_are_refused_not_cast(local, mirror):
    """numpy would keep a complex number's real part (with a warning) and parse text: the SDK
    refuses both, naming the field, before anything is sent."""
    with pytest.raises(InvalidArgument, match="x0 must be real numbers, got an array of complex128"):
        RemoteOptimizer.create(local, np.zeros(3) + 1j, seed=1)
    with pytest.raises(InvalidArgument, match="x0 must be real numbers, got an array of <U1"):
        RemoteOptimizer.create(local, np.array(["1", "2", "3"]), seed=1)
    run = RemoteOptimizer.create(local, np.zeros(3), mirror=mirror, seed=1)
    with pytest.raises(InvalidArgument, match="f_plus must be real numbers"):
        run.tell(f_x=1.0, f_plus=np.array([1.0 + 2j]))
    fo = RemoteOptimizer.create(local, np.zeros(3), method="adamm", mirror=mirror, schedule=None)
    with pytest.raises(InvalidArgument, match="gradient must be real numbers"):
        fo.tell_gradient(np.ones(3) + 1j)
    assert run.step == fo.step == 0
    assert [local.sessions.get(r.id).step for r in (run, fo)] == [0, 0]


@pytest.mark.parametrize("bad, said", [(float("nan"), "f_x contains NaN"), (np.array(["1.0"]), "f_x must be real"),
                                       (np.complex128(1 + 1j), "f_x must be real"),
                                       ([1.0, 2.0], r"f_x must be a number, or a list of 1; got shape \(2,\)"),
                                       ([[1.0]], r"got shape \(1, 1\)")])
def test_a_pipelined_central_run_refuses_a_bad_f_x_at_its_own_tell(local, bad, said):
    """A central step's mirror never reads f_x: the tell that brings a bad one is refused itself,
    as in plain mode, not the next one after the service refused it."""
    run = RemoteOptimizer.create(local, np.zeros(3), mirror=True, pipeline=True, difference="central",
                                 directions=1, seed=1)
    with pytest.raises(InvalidArgument, match=said):
        run.tell(f_x=bad, f_plus=[1.0], f_minus=[0.5])
    run.flush()
    assert run.step == local.sessions.get(run.id).step == 0
    run.tell(f_plus=[1.0], f_minus=[0.5])
    run.flush()
    assert run.step == local.sessions.get(run.id).step == 1 and run.mismatches == 0


def test_a_gradient_tell_refuses_the_fields_of_a_zo_tell(local):
    session = local.sessions.create(3, x0=np.zeros(3), method="adamm")
    for extra in ({"f_x": 5.0}, {"indices": [0]}, {"f_minus": [1.0]}):
        with pytest.raises(InvalidArgument, match="a gradient tell is the whole step"):
            local.sessions.tell(session.id, 0, gradient=np.ones(3), **extra)
    assert local.sessions.get(session.id).step == 0


def test_clients_refuse_what_they_cannot_use_when_made():
    import httpx

    from zoadamm import AsyncClient

    with pytest.raises(InvalidArgument, match=r"timeout must be seconds > 0 \(at most 1e\+06\)"):
        Client("http://127.0.0.1:1", timeout=float("inf"))
    with pytest.raises(InvalidArgument, match="http_client must be an httpx.Client here, got AsyncClient"):
        Client(http_client=httpx.AsyncClient())
    with pytest.raises(InvalidArgument, match="http_client must be an httpx.AsyncClient here, got Client"):
        AsyncClient(http_client=httpx.Client())
    with pytest.raises(InvalidArgument, match="client must be a zoadamm Client"):
        RemoteOptimizer(AsyncClient("http://127.0.0.1:1"), "ab" * 16)


def test_a_run_given_an_async_client_says_runs_are_synchronous_and_how_to_run_one_from_async_code():
    from zoadamm import AsyncClient

    hint = ("got AsyncClient: runs (minimize, RemoteOptimizer) are synchronous; from async code, run one in a "
            "thread, with a Client it makes and closes: await asyncio.to_thread(zoadamm.minimize, f, x0, "
            "base_url='http://127.0.0.1:1', ...)")
    for start in (lambda client: minimize(lambda x: 0.0, np.zeros(2), client=client, progress=False),
                  lambda client: RemoteOptimizer.create(client, np.zeros(2))):
        with pytest.raises(InvalidArgument, match=re.escape(hint)):
            start(AsyncClient("http://127.0.0.1:1"))


def test_json_of_another_shape_is_said_to_be_no_zoadamm_answer():
    """A server answering JSON that is not zoadamm's: a KeyError or TypeError from inside the SDK."""
    import httpx

    from zoadamm.sdk import APIError

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"status": "ok"})

    http = httpx.Client(base_url="http://elsewhere.test", transport=httpx.MockTransport(handler))
    with Client("http://elsewhere.test", http_client=http, max_retries=0) as client:
        for call in (client.sessions.list, lambda: client.sessions.get("a" * 32), lambda: client.sessions.create(3)):
            with pytest.raises(APIError, match=r"http://elsewhere.test/? answered (GET|POST) /v1/sessions\S* with "
                                               r"JSON that is no zoadamm answer \((KeyError|TypeError): "):
                call()
    # {} where an ask, a tell or a report answers: their step, lr and mu are in every answer
    empty = httpx.Client(base_url="http://elsewhere.test",
                         transport=httpx.MockTransport(lambda request: httpx.Response(200, json={})))
    with Client("http://elsewhere.test", http_client=empty, max_retries=0) as client:
        for name, call in (("ask", lambda: client.sessions.ask("a" * 32)),
                           ("tell", lambda: client.sessions.tell("a" * 32, 0, f_x=1.0, f_plus=[1.0])),
                           ("metrics", lambda: client.sessions.report("a" * 32, 1.0))):
            with pytest.raises(APIError, match=f"answered POST /v1/sessions/a{{32}}/{name} with JSON that is no "
                                               r"zoadamm answer \(KeyError: 'step'\)"):
                call()
    # bytes that are no frame under the frame's media type, and a number where x goes
    for answer in (httpx.Response(200, content=b"ZOF1\xff\xff\xff\xffjunk",
                                  headers={"content-type": "application/vnd.zoadamm.frame"}),
                   httpx.Response(200, json={"step": 1, "lr": 0.1, "mu": 0.1, "x": True})):
        odd = httpx.Client(base_url="http://elsewhere.test", transport=httpx.MockTransport(lambda r, a=answer: a))
        with Client("http://elsewhere.test", http_client=odd, max_retries=0) as client:
            with pytest.raises(APIError, match="answered 200 OK by another HTTP server"):
                client.sessions.parameters("a" * 32)
    # text where a vector goes (numpy's ValueError from inside the SDK before): another server's
    for x in (["a"], [[1.0], 2.0], {"a": 1}):
        odd = httpx.Client(base_url="http://elsewhere.test",
                           transport=httpx.MockTransport(lambda request, x=x: httpx.Response(200, json={"x": x})))
        with Client("http://elsewhere.test", http_client=odd, max_retries=0) as client:
            with pytest.raises(APIError, match=r"no zoadamm service at http://elsewhere.test.* answered 200 OK by "
                                               r"another HTTP server"):
                client.sessions.parameters("a" * 32)


def test_vectors_past_float32_convert_without_numpy_s_warning():
    """x, a gradient or x0 of 1e39 printed numpy's 'overflow encountered in cast' before the
    checks that refuse it by name (locally, or the service's 422)."""
    import warnings

    from zoadamm._validate import numbers

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isinf(numbers("gradient", [1e39, 0.0], np.float32)[0])
        with pytest.raises(InvalidArgument, match="x0 contains NaN, infinite or float32-overflowing values"):
            RemoteOptimizer.create(Client("http://127.0.0.1:1", max_retries=0), np.array([1e39, 0.0]))


def test_a_vector_json_cannot_carry_is_refused_by_name():
    """Over JSON, a NaN or a value past float32 in x or a gradient raised json's 'Out of range float
    values are not JSON compliant', naming nothing, and no ZoadammError."""
    import httpx

    sent = []
    odd = httpx.Client(base_url="http://elsewhere.test",
                       transport=httpx.MockTransport(lambda request: sent.append(request) or httpx.Response(500)))
    with Client("http://elsewhere.test", http_client=odd, max_retries=0, binary=False) as client:
        with pytest.raises(InvalidArgument, match="^x contains NaN, infinite or float32-overflowing values$"):
            client.sessions.ask("a" * 32, x=[1e39, 0.0])
        with pytest.raises(InvalidArgument, match="^gradient contains NaN, infinite or float32-overflowing values$"):
            client.sessions.tell("a" * 32, 0, gradient=[np.nan, 0.0])
    assert sent == []  # refused before any request
