"""The dashboard against a service with small limits of its own: a session's metric history
(ZOADAMM_METRIC_HISTORY) and its trace (ZOADAMM_TRACE_POINTS, the stride doubling when full)."""

from __future__ import annotations

import httpx
import pytest
from waits import points, until
from workloads import traced_session

from zoadamm_service.launch import ServiceProcess

KEPT = 20  # reports a session keeps


@pytest.fixture(scope="module")
def small():
    with ServiceProcess(env={"ZOADAMM_METRIC_HISTORY": str(KEPT), "ZOADAMM_TRACE_POINTS": "4"}) as svc:
        yield svc


def refreshes(page, n: int) -> None:
    """Waits until the page has read the table ``n`` more times: every read it began before has
    ended, and its answers are drawn."""
    seen: list[str] = []
    listen = lambda r: seen.append(r.url) if r.url.endswith("/v1/dashboard/sessions") else None  # noqa: E731
    page.on("requestfinished", listen)
    until(page, lambda: len(seen) >= n, f"{n} more refreshes")
    page.remove_listener("requestfinished", listen)


def test_the_page_keeps_no_more_reports_than_the_service(small, page):
    """Reports added by cursor while the page is open: it drops the oldest past what the service
    keeps, as the service does, where it kept every one it had seen."""
    with httpx.Client(base_url=small.url, timeout=30) as http:
        sid = traced_session(http, "many reports", [2.0, 1.0], metrics=[{"value": float(i)} for i in range(5)])
        page.goto(f"{small.url}/dashboard#s={sid}")
        until(page, lambda: points(page, "chart-metrics") == 5, "the first reports")
        for i in range(5, 5 + 2 * KEPT):
            assert http.post(f"/v1/sessions/{sid}/metrics", json={"value": float(i)}).status_code == 200
        kept = http.get(f"/v1/sessions/{sid}/metrics").json()
    assert [m["value"] for m in kept["items"]] == [float(i) for i in range(5 + KEPT, 5 + 2 * KEPT)]
    refreshes(page, 3)  # after the reports: the page has read every one of them
    assert points(page, "chart-metrics") == KEPT
    assert page.errors == [] and page.violations() == []


def test_the_kept_steps_are_counted_in_ordinals(small, page):
    """A trace of 4 points thinned to every 2nd step, and the ordinals the page writes."""
    with httpx.Client(base_url=small.url, timeout=30) as http:
        sid = traced_session(http, "thinned", [float(10 - s) for s in range(6)])
        assert http.get(f"/v1/sessions/{sid}/trace").json()["stride"] == 2
    page.goto(f"{small.url}/dashboard#s={sid}")
    until(page, lambda: "6 steps" in page.inner_text("#detail-sub"), "the session")
    assert page.inner_text("#detail-sub").endswith(", every 2nd step kept")
    numbers = [1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 32, 101, 111, 112, 512, 1024, 2048]
    written = page.evaluate(f"import('/assets/format.js').then((m) => {numbers}.map(m.ordinal))")
    assert written == ["1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "23rd", "32nd",
                       "101st", "111th", "112th", "512th", "1,024th", "2,048th"]
    assert page.errors == [] and page.violations() == []
