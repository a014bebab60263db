"""The dashboard from the keyboard and on a narrow screen, and what its charts say of what they
cannot draw: a keyboard user's place survives the table's refresh, a session opens with Enter
and closes with Escape, a column sorts with Enter, "l2" finds the l2 balls, the detail fits a
phone's width, and a gradient of 0 is said rather than drawn as a decay."""

from __future__ import annotations

import httpx
from waits import until
from workloads import traced_session

from zoadamm import Ball, FeasibleSet


def focused(page) -> str:
    """What has the focus: the class of the focused element and the session of its row."""
    return page.evaluate("(() => { const e = document.activeElement; const row = e.closest('tr');"
                         " return `${e.className}@${row ? row.dataset.id : ''}`; })()")


def test_a_keyboard_user_keeps_their_place_and_opens_sorts_and_closes(service, finished, page):
    first, second = finished("kb first"), finished("kb second")
    page.goto(f"{service.url}/dashboard")
    row = page.locator(f"#sessions tbody tr[data-id='{second}']")
    until(page, lambda: row.count() == 1, "the session's row")
    row.locator("input.cmp").focus()
    page.wait_for_timeout(2500)  # the table is rebuilt every second (the default refresh)
    assert focused(page) == f"cmp@{second}"  # the focus went back to the page's start every refresh
    page.keyboard.press("Tab")  # from the row's checkbox to its name, a link to the session
    assert focused(page) == f"open@{second}"
    page.keyboard.press("Enter")
    until(page, lambda: page.is_visible("#detail") and page.inner_text("#detail-title") == "kb second", "the detail")
    page.wait_for_timeout(1500)
    assert focused(page) == f"open@{second}"
    page.keyboard.press("Escape")
    until(page, lambda: not page.is_visible("#detail"), "the detail closed")
    header = page.locator("#sessions th[data-key='step']")
    header.focus()
    page.keyboard.press("Enter")
    assert header.get_attribute("aria-sort") == "descending"
    page.keyboard.press(" ")
    assert header.get_attribute("aria-sort") == "ascending"
    listed = page.locator("#sessions tbody tr").evaluate_all("(rows) => rows.map((r) => r.dataset.id)")
    assert {first, second} <= set(listed)
    assert page.errors == [] and page.violations() == []


def test_l2_in_the_filter_finds_the_sessions_in_an_l2_ball(service, finished, page):
    ball = finished("in a ball", constraint=FeasibleSet(ball=Ball("2", 0.0, 4.0)))
    free = finished("in no set")
    page.goto(f"{service.url}/dashboard")
    until(page, lambda: page.locator(f"#sessions tbody tr[data-id='{free}']").count() == 1, "the rows")
    for text in ("l2", "ℓ2", "L2 BALL"):
        page.fill("#filter", text)
        shown = page.locator("#sessions tbody tr").evaluate_all("(rows) => rows.map((r) => r.dataset.id)")
        assert ball in shown and free not in shown, (text, shown)


def test_a_gradient_of_zero_is_said_and_an_fo_session_charts_no_mu(service, finished, page):
    with httpx.Client(base_url=service.url) as http:
        flat = traced_session(http, "every probe gave f(x)", [1.0] * 12)  # f_plus == f_x: each g is 0
    fo = finished("fo run", method="adamm")
    page.goto(f"{service.url}/dashboard#s={flat}")
    page.reload()
    until(page, lambda: "every estimate was 0" in page.inner_text("#chart-grad"), "the gradient chart's words")
    assert page.inner_text("#grad-caption").startswith("gradient estimate")
    page.goto(f"{service.url}/dashboard#s={fo}")
    page.reload()
    until(page, lambda: page.inner_text("#schedule-caption") == "lr", "the FO session's lr chart")
    assert page.get_attribute("#chart-schedule", "data-labels") == "step | lr"  # no mu axis
    assert page.inner_text("#grad-caption").startswith("gradient: ")
    assert page.errors == [] and page.violations() == []


def test_a_session_fits_a_phone_s_width(service, finished, page):
    shown = finished("on a phone")
    page.set_viewport_size({"width": 400, "height": 800})
    page.goto(f"{service.url}/dashboard#s={shown}")
    page.reload()
    until(page, lambda: page.is_visible("#detail") and page.locator("#chart-grad canvas").count() == 1, "the charts")
    page.wait_for_timeout(500)
    assert page.evaluate("document.documentElement.scrollWidth") <= 400  # charts of 460 px made it 497
    assert page.locator("#key-button").bounding_box()["x"] + page.locator("#key-button").bounding_box()["width"] <= 400
    assert page.errors == []
