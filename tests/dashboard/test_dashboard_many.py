"""A tenant with more sessions than the table holds (the newest 500): the page says how many
older ones there are and how to open one, and an older one opens by its id."""

from __future__ import annotations

import httpx
from waits import GUARD_MS, until

from zoadamm_service.dashboard.overview import MAX_ROWS

OLDER = 3


def test_the_sessions_beyond_the_newest_are_counted_and_open_by_id(service, page):
    with httpx.Client(base_url=service.url, timeout=30) as http:
        ids = [http.post("/v1/sessions", json={"dim": 2, "name": f"many {n}"}).json()["id"]
               for n in range(MAX_ROWS + OLDER)]
        table = http.get("/v1/dashboard/sessions").json()
    assert table["total"] == MAX_ROWS + OLDER and len(table["sessions"]) == MAX_ROWS
    assert {row["id"] for row in table["sessions"]} == set(ids[OLDER:])  # the newest
    page.goto(service.url + "/dashboard")
    until(page, lambda: page.inner_text("#count") == f"{MAX_ROWS} of {MAX_ROWS} (the newest; {OLDER} older: "
                                                       "open one at #s=ID)", "the count of the older sessions")
    page.goto(f"{service.url}/dashboard#s={ids[0]}")
    page.reload()
    page.locator("#detail-title", has_text="many 0").wait_for(timeout=GUARD_MS)
    # a ZO session without a step yet: no f(x) so far, not an FO session's none at all
    until(page, lambda: "no f(x) yet: no step has been told" in page.inner_text("#chart-f"), "the empty f(x) note")
    assert page.errors == [] and page.violations() == []
