"""The dashboard in a real Chromium against a real service process while workers train.

Screenshots are kept (the folder is printed; ``ZOADAMM_TEST_ARTIFACTS`` moves it)."""

from __future__ import annotations

import httpx
import numpy as np
import pytest
from waits import GUARD_MS, count, points, read, until
from workloads import QuadraticRun, traced_session

from zoadamm import METHODS, Ball, Box, FeasibleSet
from zoadamm_service.launch import ServiceProcess
from zoadamm_service.tenants import entry, new_key


@pytest.fixture
def runs(service):
    started = []

    def start(*args, url: str = service.url, **kwargs):
        run = QuadraticRun(url, *args, **kwargs)
        run.start()
        started.append(run)
        return run

    yield start
    for run in started:
        run.stop.set()
        run.join()
        assert run.error is None, run.error


def row(page, name: str):
    return page.locator("#sessions tbody tr", has_text=name)


def test_sessions_appear_and_their_curves_grow_while_workers_run(service, runs, page, artifacts):
    zo = runs("ZO quadratic q=4", directions=4)
    fo = runs("FO quadratic", method="adamm")
    page.goto(service.url + "/dashboard")
    row(page, "ZO quadratic q=4").wait_for(timeout=GUARD_MS)
    row(page, "FO quadratic").wait_for(timeout=GUARD_MS)
    row(page, "ZO quadratic q=4").click()
    until(page, lambda: points(page, "chart-f") > 5, "f(x) points")
    first = points(page, "chart-f")
    # the worker keeps stepping: the page must draw more points without a reload
    until(page, lambda: points(page, "chart-f") > first + 20, "new f(x) points")
    until(page, lambda: points(page, "chart-metrics") >= 2, "metric points")
    assert "ZO quadratic q=4" in page.inner_text("#detail-title")
    assert count(page, "#chart-grad canvas") == 1 and count(page, "#chart-schedule canvas") == 1
    page.screenshot(path=str(artifacts / "session.png"), full_page=True)

    # tick both: an FO session has no f(x), so the comparison shows a metric both report, on
    # evaluations (the default x axis), and says why
    for name in ("ZO quadratic q=4", "FO quadratic"):
        row(page, name).locator("input.cmp").check()
    until(page, lambda: count(page, "#chart-compare .u-legend .u-series") == 3, "both sessions compared")
    assert page.input_value("#compare-x") == "evaluations"
    # the shared validation metric, once both sessions' reports have arrived (they come by page)
    until(page, lambda: page.input_value("#compare-y") == "metric:value", "the shared metric chosen")
    assert "no f(x)" in page.inner_text("#compare-note")
    until(page, lambda: points(page, "chart-compare") > 2, "both curves")
    page.screenshot(path=str(artifacts / "compare.png"), full_page=True)
    # the user's choice stays: f(x) draws the ZO curve alone
    page.select_option("#compare-y", "f")
    until(page, lambda: page.input_value("#compare-y") == "f" and page.inner_text("#compare-note") == "", "f(x)")

    # the table: filter and sort
    page.fill("#filter", "FO quad")
    assert count(page, "#sessions tbody tr") == 1
    page.fill("#filter", "")
    page.click("#sessions th[data-key=step]")
    page.wait_for_timeout(200)
    steps = [int(t.replace(",", "")) for t in page.locator("#sessions tbody tr td:nth-child(7)").all_inner_texts()]
    assert steps == sorted(steps, reverse=True)
    # until the user chooses, log y follows the data (on once f(x) spans decades), and the
    # workers still run: the first click makes the choice the user's, whichever way it went
    page.click("#logy")
    if not page.is_checked("#logy"):
        page.click("#logy")
    assert page.is_checked("#logy")
    until(page, lambda: page.get_attribute("#chart-f", "data-log") == "true", "the log scale")
    page.screenshot(path=str(artifacts / "session-log-y.png"), full_page=True)
    assert zo.done > 0 and fo.done > 0
    assert page.errors == [] and page.violations() == []


def test_methods_and_their_sets_side_by_side_on_one_problem(service, runs, page, artifacts):
    """Three methods on the same quadratic, two of them in a feasible set: the table and the
    session's title say each method and its X, the filter offers every method the service has,
    and the comparison's legend names the method and starting lr of each curve."""
    box = FeasibleSet(box=Box(-1.0, 1.0))
    ball = FeasibleSet(ball=Ball("2", np.zeros(50), 4.0))
    runs("same problem A", method="zo-adamm", steps=120, pace_s=0.005)
    runs("same problem B", method="zo-sgd", constraint=box, steps=120, pace_s=0.005, lr=0.005)
    runs("same problem C", method="zo-adam", constraint=ball, steps=120, pace_s=0.005)
    no_lower = float(np.finfo(np.float32).min)  # what bounds=(None, 1) and scipy's -inf become
    runs("same problem D", method="zo-signsgd", constraint=FeasibleSet(box=Box(no_lower, 1.0)), steps=20)
    page.goto(service.url + "/dashboard")
    for name in ("same problem A", "same problem B", "same problem C", "same problem D"):
        row(page, name).wait_for(timeout=GUARD_MS)
    assert "zo-sgd" in row(page, "same problem B").inner_text()
    assert row(page, "same problem B").locator("td.set").inner_text() == "box [-1, 1]"
    assert row(page, "same problem C").locator("td.set").inner_text() == "ℓ2 ball r = 4 around 50-vector"
    assert row(page, "same problem A").locator("td.set").inner_text() == "—"
    assert row(page, "same problem D").locator("td.set").inner_text() == "box [−∞, 1]"
    options = page.locator("#method-filter option").all_inner_texts()
    assert options == ["all methods", *METHODS]
    page.select_option("#method-filter", "zo-sgd")
    until(page, lambda: count(page, "#sessions tbody tr") == 1, "the zo-sgd session alone")
    page.select_option("#method-filter", "")
    row(page, "same problem B").click()
    until(page, lambda: "X = box [-1, 1]" in page.inner_text("#detail-sub"), "the session's X")
    assert page.inner_text("#detail-sub").startswith("zo-sgd, q = 4")
    for name in ("same problem A", "same problem B", "same problem C"):
        row(page, name).locator("input.cmp").check()
    until(page, lambda: count(page, "#chart-compare .u-legend .u-series") == 4, "three sessions compared")
    legend = read(page.inner_text("#chart-compare .u-legend"))
    assert "same problem B · zo-sgd in box [-1, 1]" in legend and "same problem A · zo-adamm" in legend
    assert "same problem C · zo-adam in ℓ2 ball r = 4" in legend
    # each curve's starting lr: an lr grid's runs of one name read apart
    assert "zo-sgd in box [-1, 1] · lr 0.005" in legend and "same problem A · zo-adamm · lr 0.02" in legend
    page.screenshot(path=str(artifacts / "methods-compared.png"), full_page=True)
    assert page.errors == [] and page.violations() == []


def test_a_zo_session_without_a_step_leaves_the_comparison_on_f(service, runs, page):
    """A ZO session that has not stepped yet has no f(x) so far: ticked beside one that steps,
    the comparison stays on f(x) and blames no FO session (none is ticked)."""
    runs("stepping now", steps=40, pace_s=0)
    with httpx.Client(base_url=service.url, timeout=30) as http:
        assert http.post("/v1/sessions", json={"dim": 50, "name": "not stepped yet"}).status_code == 201
    page.goto(service.url + "/dashboard")
    for name in ("stepping now", "not stepped yet"):
        row(page, name).wait_for(timeout=GUARD_MS)
        row(page, name).locator("input.cmp").check()
    until(page, lambda: count(page, "#chart-compare .u-legend .u-series") == 3, "both sessions compared")
    until(page, lambda: points(page, "chart-compare") > 2, "the stepping session's curve")
    assert page.input_value("#compare-y") == "f" and page.inner_text("#compare-note") == ""
    assert page.errors == [] and page.violations() == []


def test_a_dozen_compared_sessions_are_told_apart_and_the_y_axis_is_named(service, runs, page, artifacts):
    """Past the palette's ten colours each curve keeps a look of its own (a dash), and the y axis
    says what it shows, as the x axis does."""
    names = [f"dozen {k:02d}" for k in range(12)]
    for name in names:
        runs(name, steps=25, pace_s=0)
    page.goto(service.url + "/dashboard")
    for name in names:
        row(page, name).wait_for(timeout=GUARD_MS)
        row(page, name).locator("input.cmp").check()
    until(page, lambda: count(page, "#chart-compare .u-legend .u-series") == 13, "twelve sessions compared")
    labels = lambda: page.get_attribute("#chart-compare", "data-labels")  # noqa: E731 - uPlot draws them
    until(page, lambda: labels() == "function evaluations | f(x), EMA", "the y axis's name")
    page.select_option("#compare-y", "lr")
    until(page, lambda: labels() == "function evaluations | lr", "the y axis renamed")
    page.screenshot(path=str(artifacts / "compare-dozen.png"), full_page=True)
    assert page.errors == [] and page.violations() == []


@pytest.fixture(scope="module")
def keyed_service():
    """A service with API keys, on the embedded store; the tenant's key."""
    key = new_key()
    with ServiceProcess(env={"ZOADAMM_API_KEYS": entry("lab", key)}) as svc:
        yield svc, key


def test_with_keys_on_and_no_key_it_says_the_key_is_missing_and_keeps_the_key_in_the_tab(
        keyed_service, runs, page, artifacts):
    """A service with keys answers 401 without one: the page says the key is missing (not that
    there are no sessions), takes the key, sends it on every request after that, and keeps it
    for this tab only unless "remember on this device" is ticked."""
    service, key = keyed_service
    runs("keyed run", url=service.url, steps=30, pace_s=0, api_key=key)
    sent: list[str | None] = []
    page.on("request", lambda r: sent.append(r.headers.get("authorization")) if "/v1/" in r.url else None)
    page.goto(service.url + "/dashboard")
    banner = page.locator("#auth-banner")
    banner.wait_for(state="visible", timeout=GUARD_MS)
    assert "401" in banner.inner_text()
    assert "No API key entered" in page.inner_text("#empty") and "No sessions yet" not in page.inner_text("#empty")
    assert page.inner_text("#status") == "API key missing"
    page.screenshot(path=str(artifacts / "needs-key.png"), full_page=True)

    page.click("#auth-enter")
    assert not page.is_checked("#key-remember"), "remembering is off by default"
    page.fill("#key-input", key)
    page.click("#key-save")
    row(page, "keyed run").wait_for(timeout=GUARD_MS)
    assert banner.is_hidden() and page.locator("#empty").is_hidden()
    assert sent[0] is None and sent[-1] == f"Bearer {key}"
    assert page.evaluate("sessionStorage.getItem('zoadamm.apiKey')") == key
    assert page.evaluate("localStorage.getItem('zoadamm.apiKey')") is None

    # another tab of the same browser does not have it; with "remember" ticked it does
    other = page.context.new_page()
    other.goto(service.url + "/dashboard")
    other.locator("#auth-banner").wait_for(state="visible", timeout=GUARD_MS)
    other.click("#auth-enter")
    other.fill("#key-input", "not-the-key")
    other.click("#key-save")
    other.locator("#empty", has_text="refused").wait_for(timeout=GUARD_MS)
    other.click("#key-button")
    other.fill("#key-input", key)
    other.check("#key-remember")
    other.click("#key-save")
    row(other, "keyed run").wait_for(timeout=GUARD_MS)
    assert other.evaluate("localStorage.getItem('zoadamm.apiKey')") == key
    third = page.context.new_page()
    third.goto(service.url + "/dashboard")
    row(third, "keyed run").wait_for(timeout=GUARD_MS)
    # Chromium logs each 401 answer; nothing else went wrong
    assert {e for e in page.errors if "status of 401" not in e} == set() and page.violations() == []


def test_open_mode_sends_no_key_and_the_assets_are_bundled(service, page):
    sent = []
    page.on("request", lambda r: sent.append((r.url, r.headers.get("authorization"))))
    page.goto(service.url + "/dashboard")
    page.wait_for_selector("#status.live", timeout=GUARD_MS)
    assert all(url.startswith(service.url) for url, _ in sent), "the page loads nothing from elsewhere"
    assert all(auth is None for _, auth in sent)
    license_text = httpx.get(service.url + "/assets/uPlot.LICENSE.txt").text
    assert "MIT" in license_text
    assert httpx.get(service.url + "/assets/..%2Fpages.py").status_code == 404
    assert page.errors == [] and page.violations() == []


def test_numbers_share_one_format_and_wide_ranges_get_a_log_axis(service, page, artifacts):
    """d = 169,196 beside d = 1,400 (not 1.69e+5); a curve from 1,000 down to 0.1 is drawn on
    log y by default, one within a decade on linear y; the user's tick wins."""
    with httpx.Client(base_url=service.url, timeout=30) as http:
        wide = traced_session(http, "wide range", [1000.0, 100.0, 10.0, 1.0, 0.1], dim=169_196)
        traced_session(http, "narrow range", [2.0, 1.8, 1.5, 1.2, 1.1], dim=1_400)
    page.goto(f"{service.url}/dashboard#s={wide}")
    row(page, "narrow range").wait_for(timeout=GUARD_MS)
    assert "169,196" in row(page, "wide range").locator("td:nth-child(5)").inner_text()
    assert "1,400" in row(page, "narrow range").locator("td:nth-child(5)").inner_text()
    until(page, lambda: points(page, "chart-f") == 5, "the wide session's f(x)")
    assert page.is_checked("#logy") and page.get_attribute("#chart-f", "data-log") == "true"
    assert "d = 169,196" in page.inner_text("#detail-sub")

    row(page, "narrow range").locator("input.cmp").check()
    until(page, lambda: count(page, "#chart-compare .u-legend .u-series") == 2, "the narrow session compared")
    assert page.input_value("#compare-y") == "f"
    assert not page.is_checked("#compare-logy") and page.get_attribute("#chart-compare", "data-log") == "false"
    row(page, "wide range").locator("input.cmp").check()
    until(page, lambda: page.get_attribute("#chart-compare", "data-log") == "true", "log y for both")
    assert page.is_checked("#compare-logy")
    page.screenshot(path=str(artifacts / "log-y.png"), full_page=True)
    page.uncheck("#compare-logy")
    until(page, lambda: page.get_attribute("#chart-compare", "data-log") == "false", "the user's linear y")
    page.wait_for_timeout(1500)  # a refresh or two later, still the user's choice
    assert page.get_attribute("#chart-compare", "data-log") == "false"
    assert page.errors == [] and page.violations() == []


def test_a_short_mnist_race_of_fo_and_zo_is_overlaid_on_evaluations(service, page, artifacts):
    """The paper's CNN (d = 1,400) on 1,280 MNIST images, 3 epochs each, FO and ZO at once:
    ticking both overlays their validation loss without picking it."""
    import threading

    from zoadamm_worker.mnist import load_mnist
    from zoadamm_worker.train import RunSpec, train

    data = load_mnist()
    results, errors = {}, []

    def race(method: str) -> None:
        try:
            results[method] = train(RunSpec(method=method, epochs=3, seed=0, train_limit=1280, lr=2e-3),
                                    service.url, None, data=data, progress=False)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=race, args=(m,), daemon=True) for m in ("adamm", "zo-adamm")]
    for t in threads:
        t.start()
    page.goto(service.url + "/dashboard")
    for label in ("FO d=1,400", "ZO q=1 d=1,400"):
        first = row(page, label).first
        first.wait_for(timeout=GUARD_MS)
        first.locator("input.cmp").check()
    row(page, "ZO q=1 d=1,400").first.click()
    for t in threads:
        t.join()
    assert not errors, errors
    # the shared validation metric, once both runs' reports have arrived (they come by page)
    until(page, lambda: page.input_value("#compare-y") == "metric:value", "the shared metric chosen")
    until(page, lambda: points(page, "chart-compare") >= 4, "both validation curves")
    until(page, lambda: points(page, "chart-metrics") >= 3, "the ZO run's metrics")
    page.screenshot(path=str(artifacts / "mnist-race.png"), full_page=True)
    assert len(results["adamm"]) == 3 and len(results["zo-adamm"]) == 3
    assert page.errors == [] and page.violations() == []
