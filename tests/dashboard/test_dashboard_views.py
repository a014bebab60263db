"""The dashboard's views as a user moves between sessions: a chart that had nothing to draw draws
again, a session deleted while shown or compared is let go, a long name does not widen the page,
a name's direction override stays inside the name, sessions of one name read apart in a legend,
and age and running read the service's clock."""

from __future__ import annotations

import re

import httpx
import pytest
from waits import GUARD_MS, points, until
from workloads import QuadraticRun

from zoadamm import Box, FeasibleSet


def test_the_f_chart_draws_again_after_an_fo_session(service, finished, page):
    """An FO session has no f(x): its empty chart must not stay behind for the next session's
    curve, nor break the resizes after it."""
    # long enough that f spans decades: its chart takes a log axis, which the FO chart has not
    zo_a, fo, zo_b = finished("zo first", 400), finished("fo between", method="adamm"), finished("zo after", 400)
    for shown, drawn in ((zo_a, True), (fo, False), (zo_b, True)):
        page.goto(f"{service.url}/dashboard#s={shown}")
        page.reload()  # the hash alone does not reload the page
        if drawn:
            until(page, lambda: points(page, "chart-f") > 0 and page.locator("#chart-f canvas").count() == 1,
                  "the f(x) curve")
        else:
            until(page, lambda: "no f(x)" in page.inner_text("#chart-f"), "the FO session's note")
    # the same moves without reloading: the chart object is reused across sessions
    for shown in (zo_a, fo, zo_b):
        page.locator("#sessions tbody tr", has_text=shown[:8]).click()
        page.wait_for_timeout(300)
    until(page, lambda: page.locator("#chart-f canvas").count() == 1 and points(page, "chart-f") > 0,
          "the f(x) curve after the FO session")
    page.set_viewport_size({"width": 1000, "height": 900})
    page.set_viewport_size({"width": 1400, "height": 1100})
    page.wait_for_timeout(300)
    assert page.errors == [] and page.violations() == []


def test_a_deleted_session_is_let_go(service, finished, page):
    gone = finished("deleted while compared")
    kept = finished("kept")
    page.goto(f"{service.url}/dashboard#s={gone}")
    for sid in (gone, kept):
        page.locator("#sessions tbody tr", has_text=sid[:8]).locator("input.cmp").check()
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if gone in r.url else None)
    assert httpx.delete(f"{service.url}/v1/sessions/{gone}").status_code == 204
    # (not ``until``: the one 404 that tells the page the session is gone is logged as an error)
    for _ in range(GUARD_MS // 100):
        if "#s=" not in page.url:
            break
        page.wait_for_timeout(100)
    assert "#s=" not in page.url
    # the page says why the session left the detail and the comparison
    until(page, lambda: page.is_visible("#gone-banner"), "the note of the deleted session")
    # in the service's words (its note on the embedded store: tests/dashboard/test_dashboard_gone.py)
    assert page.inner_text("#gone-text").startswith(f"The session \u2068deleted while compared\u2069 ({gone[:8]}) "
                                                    f"is no longer on the service, which answered: no session '{gone}'")
    assert page.inner_text("#gone-text").endswith(". It left the detail and the comparison.")
    page.click("#gone-close")
    assert not page.is_visible("#gone-banner")
    stored = page.evaluate("localStorage.getItem('zoadamm.compared')")
    assert gone not in stored and kept in stored
    before = len(asked)
    page.wait_for_timeout(2500)  # two more refreshes: none asks for it
    assert len(asked) == before
    assert len([e for e in page.errors if "404" in e]) <= 1 and page.violations() == []


def test_a_long_name_is_cut_short_and_a_right_to_left_name_stays_in_its_place(service, finished, page):
    wide = finished("W" * 200)
    override = finished("run7 \u05d0\u05d1\u200f", constraint=FeasibleSet(box=Box(-1.0, 1.0)), method="zo-sgd")
    page.goto(f"{service.url}/dashboard#s={wide}")
    until(page, lambda: page.inner_text("#detail-title") == "W" * 200, "the long title")
    for sid in (wide, override):
        page.locator("#sessions tbody tr", has_text=sid[:8]).locator("input.cmp").check()
    until(page, lambda: page.locator("#chart-compare .u-legend .u-series").count() == 3, "two sessions compared")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 1400, width  # the viewport's width: nothing spills sideways
    # each legend entry on one line, its key beside its name: the long name is cut, whole in its title
    entries = page.locator("#chart-compare .u-legend .u-series")
    long_entry, short_entry = entries.nth(1), entries.nth(2)
    assert long_entry.locator("th").bounding_box()["height"] == short_entry.locator("th").bounding_box()["height"]
    key, name = long_entry.locator(".u-marker").bounding_box(), long_entry.locator(".u-label").bounding_box()
    assert key["y"] >= name["y"] and key["y"] + key["height"] <= name["y"] + name["height"] and key["x"] < name["x"]
    assert name["width"] < 1000
    assert long_entry.locator(".u-label").get_attribute("title") == f"\u2068{'W' * 200}\u2069 · zo-adamm · lr 0.02"
    legend = page.inner_text("#chart-compare .u-legend")
    # isolated: the text after a right-to-left name reads as written
    assert "\u2068run7 \u05d0\u05d1\u200f\u2069 · zo-sgd in box [-1, 1]" in legend
    # in the table too: the name in a <bdi>, apart from the id after it
    cell = page.locator("#sessions tbody tr", has_text=override[:8]).locator("td.name")
    assert cell.locator("bdi").text_content() == "run7 \u05d0\u05d1\u200f"
    assert cell.locator(".id").text_content() == override[:8]
    assert page.errors == [] and page.violations() == []


def test_sessions_of_one_name_read_apart_in_the_comparisons_legend(service, finished, page):
    """Workers name a session after its objective's URL: two runs of one objective (seeds 1 and 2)
    read apart by the start of their ids, as the table shows them; a name of its own reads alone."""
    url = "http://127.0.0.1:7710/f"
    first, second, other = finished(url), finished(url), finished("seed 3")
    page.goto(service.url + "/dashboard")
    for sid in (first, second, other):
        page.locator("#sessions tbody tr", has_text=sid[:8]).locator("input.cmp").check()
    until(page, lambda: page.locator("#chart-compare .u-legend .u-series").count() == 4, "three sessions compared")
    titles = page.locator("#chart-compare .u-legend .u-label").evaluate_all("(labels) => labels.map((l) => l.title)")
    for sid in (first, second):
        assert f"\u2068{url}\u2069 ({sid[:8]}) · zo-adamm · lr 0.02" in titles, titles
    assert "\u2068seed 3\u2069 · zo-adamm · lr 0.02" in titles, titles
    legend = page.inner_text("#chart-compare .u-legend")
    assert f"({first[:8]})" in legend and f"({second[:8]})" in legend and f"({other[:8]})" not in legend
    assert page.errors == [] and page.violations() == []


def test_names_that_look_alike_read_apart_and_a_name_that_draws_nothing_reads_as_its_id(service, finished, page):
    """"adm<ZWJ>in" drew as "admin" in a legend beside "admin", both without their ids; a name of
    a Hangul filler drew as nothing, in the table, the legend and the detail's title."""
    plain, joined, blank = finished("admin"), finished("adm\u200din"), finished("\u3164")
    page.goto(service.url + "/dashboard")
    for sid in (plain, joined, blank):
        page.locator("#sessions tbody tr", has_text=sid[:8]).locator("input.cmp").check()
    until(page, lambda: page.locator("#chart-compare .u-legend .u-series").count() == 4, "three sessions compared")
    titles = page.locator("#chart-compare .u-legend .u-label").evaluate_all("(labels) => labels.map((l) => l.title)")
    assert f"\u2068admin\u2069 ({plain[:8]}) · zo-adamm · lr 0.02" in titles, titles
    assert f"\u2068adm\u200din\u2069 ({joined[:8]}) · zo-adamm · lr 0.02" in titles, titles
    assert f"\u2068{blank[:8]}\u2069 · zo-adamm · lr 0.02" in titles, titles
    page.locator("#sessions tbody tr", has_text=blank[:8]).locator("td.name").click()
    until(page, lambda: page.inner_text("#detail-title") == blank[:8], "the blank name's detail titled by its id")
    assert page.errors == [] and page.violations() == []


def test_an_address_of_another_session_opens_it_in_the_open_tab(service, finished, page):
    """#s=ID followed in a tab that is already open changes the hash alone, and no reload comes:
    the page opens the session it names, and closes the detail on a bare #."""
    first, second = finished("shown first"), finished("named by the address")
    page.goto(f"{service.url}/dashboard#s={first}")
    until(page, lambda: page.inner_text("#detail-title") == "shown first", "the first session")
    page.evaluate(f"location.hash = '#s={second}'")
    until(page, lambda: page.inner_text("#detail-title") == "named by the address", "the session the address names")
    until(page, lambda: points(page, "chart-f") == 30, "its f(x)")
    assert page.locator("#sessions tbody tr.selected td.name bdi").inner_text() == "named by the address"
    page.evaluate("location.hash = '#'")
    until(page, lambda: page.locator("#detail").is_hidden(), "the detail closed")
    assert page.errors == [] and page.violations() == []


def skewed(seconds: int) -> str:
    """A browser clock ``seconds`` off the service's (ahead when positive)."""
    return f"(() => {{ const real = Date.now; Date.now = () => real.call(Date) + {seconds * 1000}; }})();"


@pytest.mark.parametrize("skew", [120, -120])
def test_age_and_running_read_the_services_clock(service, page, skew):
    """A browser clock two minutes off: a session created a moment ago is seconds old, not two
    minutes (or minus two), and one stepping now is running, for the table and its filter."""
    run = QuadraticRun(service.url, f"stepping, browser {skew:+} s", pace_s=0.05)
    run.start()
    try:
        page.add_init_script(skewed(skew))
        page.goto(service.url + "/dashboard")
        row = page.locator("#sessions tbody tr", has_text=f"browser {skew:+} s")
        row.wait_for(timeout=GUARD_MS)
        until(page, lambda: row.locator("td.running").count() == 1, "the session running")
        assert re.fullmatch(r"\d+ s", row.locator("td:last-child").inner_text()), row.inner_text()
        page.check("#active-only")
        until(page, lambda: row.count() == 1 and row.locator("td.running").count() == 1, "it among the running")
    finally:
        run.stop.set()
        run.join()
    assert run.error is None, run.error
    assert page.errors == [] and page.violations() == []


def test_the_table_shows_the_youngest_session_first(service, finished, page):
    """A user's new run is at the top, not below every older session."""
    names = ["made first", "made second", "made third"]
    for name in names:
        finished(name, steps=2)
    page.goto(f"{service.url}/dashboard")
    # the service shares its table for a second: the three may come a poll later
    until(page, lambda: all(n in page.inner_text("#sessions tbody") for n in names), "the three sessions")
    shown = page.locator("#sessions tbody td.name").all_inner_texts()
    order = [next(n for n in names if n in text) for text in shown if any(n in text for n in names)]
    assert order == list(reversed(names))


SLOTS = """() => import('/assets/state.js').then(({ colorOf, dashOf, state }) => {
  const shown = (ids) => ids.map((id) => [colorOf(id), dashOf(id) || null]);
  for (let i = 0; i < 40; i++) { state.compared.add(`s${i}`); colorOf(`s${i}`); state.compared.delete(`s${i}`); }
  state.compared.add("s0"); state.compared.add("s40");
  const two = shown(["s0", "s40"]);
  state.compared.clear();
  const many = Array.from({ length: 11 }, (_, i) => `m${i}`);
  many.forEach((id) => state.compared.add(id));
  const eleven = shown(many);
  [...state.compared].forEach((id) => state.compared.delete(id));
  return [two, eleven];
})"""


def test_compared_curves_take_the_colours_free_among_those_shown(service, page):
    """Colours went to every session ever ticked: after ticking and unticking 40, two curves were
    both blue and solid, and past ten ticks even two curves were dashed."""
    page.goto(f"{service.url}/dashboard")
    two, eleven = page.evaluate(SLOTS)
    assert two == [["#2563eb", None], ["#ea580c", None]]
    assert len({str(curve) for curve in eleven}) == 11  # the eleventh: the first colour, dashed
    assert [dash for _, dash in eleven].count(None) == 10


def test_text_selected_in_the_table_outlives_a_refresh(service, page):
    """The table was rebuilt at every refresh (1 s): an id selected to copy was lost at once.  The
    rows still follow the service meanwhile."""
    with httpx.Client(base_url=service.url, timeout=30) as http:
        made = http.post("/v1/sessions", json={"dim": 2, "directions": 1, "x0": [0.0, 0.0], "name": "to copy"})
        sid = made.json()["id"]
        page.goto(f"{service.url}/dashboard")
        row = f'#sessions tbody tr[data-id="{sid}"]'
        until(page, lambda: page.locator(row).count() == 1, "the row")
        page.evaluate("(row) => getSelection().selectAllChildren(document.querySelector(row + ' .id'))", row)
        assert page.evaluate("() => getSelection().toString()") == sid[:8]
        for step in range(3):  # the row changes under the selection
            http.post(f"/v1/sessions/{sid}/tell", json={"step": step, "f_x": 1.0, "f_plus": [1.0]})
        until(page, lambda: "3" in page.locator(f"{row} td.num").nth(2).inner_text(), "the row's steps")
        page.wait_for_timeout(1500)  # a refresh more
        assert page.evaluate("() => getSelection().toString()") == sid[:8]
        # a double click selects the id alone, not glued to the name
        page.dblclick(f"{row} .id")
        assert page.evaluate("() => getSelection().toString().trim()") == sid[:8]
    assert page.errors == [] and page.violations() == []
