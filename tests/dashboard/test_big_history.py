"""The dashboard on a session whose metric history is larger than one answer may carry, in a real
Chromium against a service process on a real Redis: the page draws a series spread over the
history (``?points=``), then adds new reports by cursor, and no answer it reads is over 1 MB."""

from __future__ import annotations

import httpx
import pytest
from waits import GUARD_MS, points, until

from zoadamm_service.launch import ServiceProcess

REPORTS = 400  # ~1.1 KB each: the history is about twice what one answer carries


@pytest.fixture
def filled(redis_url):
    with ServiceProcess(redis_url) as service, httpx.Client(base_url=service.url, timeout=60) as http:
        r = http.post("/v1/sessions", json={"dim": 1, "x0": [1.0], "name": "long history", "schedule": None})
        assert r.status_code == 201, r.text
        sid = r.json()["id"]
        for step in range(3):
            assert http.post(f"/v1/sessions/{sid}/tell", json={"step": step, "f_x": 1.0, "f_plus": [2.0]}).is_success
        for i in range(REPORTS):
            report(http, sid, i)
        yield service.url, http, sid


def report(http: httpx.Client, sid: str, i: int) -> None:
    named = {f"loss_{k}".ljust(100, "_"): i / (k + 1) for k in range(8)}
    r = http.post(f"/v1/sessions/{sid}/metrics", json={"value": float(i), "metrics": named})
    assert r.status_code == 200, r.text


def test_a_long_history_is_drawn_as_a_series_then_grows_by_cursor(filled, page, artifacts):
    url, http, sid = filled
    reads: list[tuple[str, int]] = []
    page.on("response", lambda r: reads.append((r.url, len(r.body()))) if "/v1/dashboard/sessions/" in r.url else None)
    page.goto(url + "/dashboard")
    row = page.locator("#sessions tbody tr", has_text="long history")
    row.wait_for(timeout=GUARD_MS)
    row.click()
    until(page, lambda: points(page, "chart-metrics") > 1, "the metric series")
    first = points(page, "chart-metrics")
    assert first < REPORTS  # a series spread over the history, not all of it
    for i in range(REPORTS, REPORTS + 3):
        report(http, sid, i)
    until(page, lambda: points(page, "chart-metrics") == first + 3, "the three new reports")
    page.screenshot(path=str(artifacts / "long_history.png"), full_page=True)
    assert "points=" in reads[0][0] and any("cursor=" in u for u, _ in reads[1:]), reads
    assert max(size for _, size in reads) <= 1_000_000, reads
    assert not page.errors and not page.violations()
