"""The dashboard in a real Chromium against a real service process while workers train.

Screenshots are kept (the folder is printed; ``ZOADAMM_TEST_ARTIFACTS`` moves it)."""

from __future__ import annotations

import json

import httpx
import pytest
from workloads import QuadraticRun

GUARD_MS = 60_000  # only a guard against a page that never updates


@pytest.fixture
def runs(service):
    started = []

    def start(*args, **kwargs):
        run = QuadraticRun(service.url, *args, **kwargs)
        run.start()
        started.append(run)
        return run

    yield start
    for run in started:
        run.stop.set()
        run.join()
        assert run.error is None, run.error


def points(page, chart: str) -> int:
    return int(page.get_attribute(f"#{chart}", "data-points") or 0)


def test_sessions_appear_and_their_curves_grow_while_workers_run(service, runs, page, artifacts):
    zo = runs("ZO quadratic q=4", directions=4)
    fo = runs("FO quadratic", method="adamm")
    page.goto(service.url + "/dashboard")
    row = page.locator("#sessions tbody tr", has_text="ZO quadratic q=4")
    row.wait_for(timeout=GUARD_MS)
    page.locator("#sessions tbody tr", has_text="FO quadratic").wait_for(timeout=GUARD_MS)
    row.click()
    page.wait_for_function("Number(document.querySelector('#chart-f').dataset.points) > 5", timeout=GUARD_MS)
    first = points(page, "chart-f")
    # the worker keeps stepping: the page must draw more points without a reload
    page.wait_for_function(f"Number(document.querySelector('#chart-f').dataset.points) > {first + 20}",
                           timeout=GUARD_MS)
    assert points(page, "chart-f") > first + 20
    page.wait_for_function("Number(document.querySelector('#chart-metrics').dataset.points) >= 2", timeout=GUARD_MS)
    assert "ZO quadratic q=4" in page.inner_text("#detail-title")
    assert page.locator("#chart-grad canvas").count() == 1 and page.locator("#chart-schedule canvas").count() == 1
    page.screenshot(path=str(artifacts / "session.png"), full_page=True)

    # overlay both, on evaluations (the default x axis)
    for name in ("ZO quadratic q=4", "FO quadratic"):
        page.locator("#sessions tbody tr", has_text=name).locator("input.cmp").check()
    page.wait_for_function("document.querySelectorAll('#chart-compare .u-legend .u-series').length === 3",
                           timeout=GUARD_MS)
    assert page.input_value("#compare-x") == "evaluations"
    page.select_option("#compare-y", "metric:value")
    page.wait_for_function("Number(document.querySelector('#chart-compare').dataset.points) > 2", timeout=GUARD_MS)
    page.screenshot(path=str(artifacts / "compare.png"), full_page=True)

    # the table: filter and sort
    page.fill("#filter", "FO quad")
    assert page.locator("#sessions tbody tr").count() == 1
    page.fill("#filter", "")
    page.click("#sessions th[data-key=step]")
    page.wait_for_timeout(200)
    steps = [int(t.replace(",", "")) for t in page.locator("#sessions tbody tr td:nth-child(6)").all_inner_texts()]
    assert steps == sorted(steps, reverse=True)
    page.check("#logy")
    page.wait_for_timeout(300)
    page.screenshot(path=str(artifacts / "session-log-y.png"), full_page=True)
    assert zo.done > 0 and fo.done > 0
    assert page.errors == []


def test_the_page_asks_for_a_key_on_401_and_sends_it_as_a_bearer_header(service, runs, page, artifacts):
    """A service with API keys answers 401 without one: the page says so, takes a key, and
    sends it on every request after that."""
    runs("keyed run", steps=30, pace_s=0)
    seen: list[str | None] = []

    def keyed(route):
        auth = route.request.headers.get("authorization")
        seen.append(auth)
        if auth != "Bearer s3cret":
            route.fulfill(status=401, content_type="application/json",
                          body=json.dumps({"detail": "missing or unknown API key"}))
        else:
            route.continue_()

    page.route("**/v1/**", keyed)
    page.goto(service.url + "/dashboard")
    banner = page.locator("#auth-banner")
    banner.wait_for(state="visible", timeout=GUARD_MS)
    assert "401" in banner.inner_text() and "missing or unknown API key" in banner.inner_text()
    page.screenshot(path=str(artifacts / "needs-key.png"), full_page=True)
    page.click("#auth-enter")
    page.fill("#key-input", "s3cret")
    page.click("#key-save")
    page.locator("#sessions tbody tr", has_text="keyed run").wait_for(timeout=GUARD_MS)
    assert banner.is_hidden()
    assert seen[0] is None and seen[-1] == "Bearer s3cret"
    stored = page.evaluate("localStorage.getItem('zoadamm.apiKey')")
    assert stored == "s3cret"


def test_open_mode_sends_no_key_and_the_assets_are_bundled(service, page):
    sent = []
    page.on("request", lambda r: sent.append((r.url, r.headers.get("authorization"))))
    page.goto(service.url + "/dashboard")
    page.wait_for_selector("#status.live", timeout=GUARD_MS)
    assert all(url.startswith(service.url) for url, _ in sent), "the page loads nothing from elsewhere"
    assert all(auth is None for _, auth in sent)
    license_text = httpx.get(service.url + "/dashboard/assets/uPlot.LICENSE.txt").text
    assert "MIT" in license_text
    assert httpx.get(service.url + "/dashboard/assets/..%2Fstatic").status_code == 404
    assert page.errors == []


def test_a_short_mnist_race_of_fo_and_zo_is_overlaid_on_evaluations(service, page, artifacts):
    """The paper's CNN (d = 1,400) on 1,280 MNIST images, 3 epochs each, FO and ZO at once."""
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
        row = page.locator("#sessions tbody tr", has_text=label).first
        row.wait_for(timeout=GUARD_MS)
        row.locator("input.cmp").check()
    page.locator("#sessions tbody tr", has_text="ZO q=1 d=1,400").first.click()
    for t in threads:
        t.join()
    assert not errors, errors
    page.select_option("#compare-y", "metric:value")
    page.wait_for_function("Number(document.querySelector('#chart-compare').dataset.points) >= 4", timeout=GUARD_MS)
    page.wait_for_function("Number(document.querySelector('#chart-metrics').dataset.points) >= 3", timeout=GUARD_MS)
    page.screenshot(path=str(artifacts / "mnist-race.png"), full_page=True)
    assert len(results["adamm"]) == 3 and len(results["zo-adamm"]) == 3
    assert page.errors == []
