"""A tenant with more sessions than the table holds (the newest 500): the page says how many
older ones there are and how to open one, and an older one opens by its id, read from its own
answer (it has no row)."""

from __future__ import annotations

import httpx
from waits import GUARD_MS, read, until

from zoadamm_service.dashboard.overview import MAX_ROWS

OLDER = 3


def test_the_sessions_beyond_the_newest_are_counted_and_open_by_id(service, page):
    with httpx.Client(base_url=service.url, timeout=30) as http:
        stepped = http.post("/v1/sessions", json={"dim": 2, "directions": 1, "method": "zo-sgd",
                                                  "name": "many stepped", "x0": [0.0, 0.0]}).json()["id"]
        for step in range(3):
            told = http.post(f"/v1/sessions/{stepped}/tell", json={"step": step, "f_x": 1.0, "f_plus": [1.0]})
            assert told.status_code == 200, told.text
        ids = [stepped] + [http.post("/v1/sessions", json={"dim": 2, "name": f"many {n}"}).json()["id"]
                           for n in range(1, MAX_ROWS + OLDER)]
        table = http.get("/v1/dashboard/sessions").json()
    assert table["total"] == MAX_ROWS + OLDER and len(table["sessions"]) == MAX_ROWS
    assert {row["id"] for row in table["sessions"]} == set(ids[OLDER:])  # the newest
    page.goto(service.url + "/dashboard")
    until(page, lambda: page.inner_text("#count") == f"{MAX_ROWS} of {MAX_ROWS} (the newest; {OLDER} older: "
                                                       "open one at #s=ID)", "the count of the older sessions")
    page.goto(f"{service.url}/dashboard#s={ids[1]}")
    page.reload()
    page.locator("#detail-title", has_text="many 1").wait_for(timeout=GUARD_MS)
    # a ZO session without a step yet: no f(x) so far, not an FO session's none at all
    until(page, lambda: "no f(x) yet: no step has been told" in page.inner_text("#chart-f"), "the empty f(x) note")
    assert ", 0 steps," in page.inner_text("#detail-sub")

    # an older session that stepped, shown and compared: its method and steps, from its answer
    page.evaluate(f"localStorage.setItem('zoadamm.compared', JSON.stringify(['{stepped}']))")
    page.goto(f"{service.url}/dashboard#s={stepped}")
    page.reload()
    page.locator("#detail-title", has_text="many stepped").wait_for(timeout=GUARD_MS)
    until(page, lambda: page.inner_text("#detail-sub").startswith("zo-sgd, q = 1"), "the method")
    assert ", 3 steps, 2 evaluations/step" in page.inner_text("#detail-sub")
    until(page, lambda: page.locator("#chart-compare .u-legend .u-series").count() == 2, "the session compared")
    assert "many stepped · zo-sgd" in read(page.inner_text("#chart-compare .u-legend"))
    assert "undefined" not in page.inner_text("body")
    assert page.errors == [] and page.violations() == []
