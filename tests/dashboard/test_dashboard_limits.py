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
