"""What one client of a tenant can store to mislead or stall the others' dashboard: a name that
passes for another session's, a metric that takes the validation loss's label, and thousands of
metric names."""

from __future__ import annotations

import httpx
from waits import until
from workloads import traced_session


def legend_titles(page) -> list[str]:
    return page.locator("#chart-compare .u-legend .u-label").evaluate_all("(labels) => labels.map((l) => l.title)")


def test_a_name_of_look_alike_letters_reads_with_its_id(service, page):
    """"\u0430dmin" (Cyrillic a) drew as "admin" beside it, both without ids, and its detail's
    title read "admin"; a name holding an id's shape read like a name the legend had identified."""
    with httpx.Client(base_url=service.url) as http:
        plain = traced_session(http, "admin", [3.0, 2.0])
        cyrillic = traced_session(http, "\u0430dmin", [3.0, 2.0])
        greek_alone = traced_session(http, "\u03bfps-run", [3.0, 2.0])  # Greek omicron beside Latin letters
        fake_id = traced_session(http, "baseline (0123abcd)", [3.0, 2.0])
        honest = traced_session(http, "seed 3", [3.0, 2.0])
    page.goto(service.url + "/dashboard")
    ids = (plain, cyrillic, greek_alone, fake_id, honest)
    for sid in ids:
        page.locator("#sessions tbody tr", has_text=sid[:8]).locator("input.cmp").check()
    until(page, lambda: page.locator("#chart-compare .u-legend .u-series").count() == 6, "five sessions compared")
    titles = legend_titles(page)
    for name, sid in (("admin", plain), ("\u0430dmin", cyrillic), ("\u03bfps-run", greek_alone),
                      ("baseline (0123abcd)", fake_id)):
        assert f"\u2068{name}\u2069 ({sid[:8]}) · zo-adamm · lr 0.001" in titles, titles
    assert "\u2068seed 3\u2069 · zo-adamm · lr 0.001" in titles, titles
    page.locator("#sessions tbody tr", has_text=cyrillic[:8]).locator("td.name").click()
    until(page, lambda: page.inner_text("#detail-id") == cyrillic[:8], "the detail's id beside its name")
    assert page.inner_text("#detail-title") == "\u0430dmin"
    assert page.errors == [] and page.violations() == []


def test_a_metric_named_like_the_validation_loss_reads_apart_from_it(service, page):
    with httpx.Client(base_url=service.url) as http:
        sid = traced_session(http, "two labels", [3.0, 2.0],
                             metrics=[{"value": 1.0, "metrics": {"value (validation loss)": 7.0}},
                                      {"value": 0.5, "metrics": {"value (validation loss)": 6.0}}])
    page.goto(f"{service.url}/dashboard#s={sid}")
    until(page, lambda: page.locator("#chart-metrics .u-legend .u-series").count() == 3, "both metrics")
    labels = page.locator("#chart-metrics .u-legend .u-label").all_inner_texts()
    assert len(set(labels)) == len(labels) == 3, labels
    assert "value (validation loss)" in labels and "value (validation loss) (2)" in labels, labels
    page.locator("#sessions tbody tr", has_text=sid[:8]).locator("input.cmp").check()
    until(page, lambda: page.locator("#chart-compare .u-legend .u-series").count() == 2, "compared")
    options = page.locator("#compare-y option").all_inner_texts()
    assert len(set(options)) == len(options), options
    assert page.errors == [] and page.violations() == []


def test_thousands_of_metric_names_draw_the_first_ones_and_say_how_many_more(service, page):
    """A client may send 32 new names per report: 14,000 names drew 14,000 legend rows and
    froze the page for seconds at each refresh and hover."""
    reports = [{"value": float(r), "metrics": {f"m{r:03d}_{k:02d}": float(k) for k in range(32)}} for r in range(60)]
    with httpx.Client(base_url=service.url) as http:
        sid = traced_session(http, "many names", [3.0, 2.0], metrics=reports)
    page.goto(f"{service.url}/dashboard#s={sid}")
    legend = page.locator("#chart-metrics .u-legend .u-series")
    until(page, lambda: legend.count() == 65, "the first 64 names")
    names = 1 + 60 * 32
    until(page, lambda: f"{names - 64:,} more metric names reported: the first 64 are drawn"
          in page.inner_text("#chart-metrics"), "the note")
    page.locator("#sessions tbody tr", has_text=sid[:8]).locator("input.cmp").check()
    until(page, lambda: page.locator("#chart-compare .u-legend .u-series").count() == 2, "compared")
    assert page.locator("#compare-y option").count() == 3 + 64
    assert page.errors == [] and page.violations() == []
