"""A session's feasible set X as the dashboard writes it: exact enough to tell two sets apart,
without thousands separators (a comma in "box [1,000, 2,000]" reads as the list's), in the table,
the session's title and the comparison's legend; the table's filter finds it, and a legend says
"central" as the table does."""

from __future__ import annotations

import httpx
import numpy as np
from waits import GUARD_MS, count, read, until

F32_MAX = 3.4028234663852886e38  # a side without a bound


def made(http: httpx.Client, name: str, constraint: dict, x0: float, *, dim: int = 3, steps: int = 3,
         **config) -> str:
    """A ZO session (q = 1) in ``constraint`` from ``x0`` in every coordinate, told ``steps``
    steps of a quadratic through HTTP; its id."""
    created = http.post("/v1/sessions", json={"dim": dim, "directions": 1, "name": name, "x0": [x0] * dim,
                                              "constraint": constraint, **config})
    assert created.status_code == 201, created.text
    session = created.json()
    central = session["config"]["difference"] == "central"
    for step in range(steps):
        told = {"step": step, "f_x": 10.0 - step, "f_plus": [9.5 - step]}
        if central:
            told["f_minus"] = [10.5 - step]
        answer = http.post(f"/v1/sessions/{session['id']}/tell", params={"answer": "checksum"}, json=told)
        assert answer.status_code == 200, answer.text
    return session["id"]


def row(page, name: str):
    return page.locator("#sessions tbody tr", has_text=name)


def shown(page) -> list[str]:
    return sorted(page.locator("#sessions tbody tr td.name bdi").all_inner_texts())


# name: (constraint, x0, the set as the page writes it). Box bounds round inward to float32
# (lower up, upper down), so the text is the shortest that reads back as the float32 the
# service holds: 0.99999 is held as 0.99999005, 123456.789 as 123456.7890625 (123456.79), an
# upper bound of 1e30 as the float32 below it. A radius is held as the float64 it was given.
SETS = {
    "narrow box": ({"box": {"lower": 0.99999, "upper": 1.00001}}, 1.0, "box [0.99999005, 1.0000099]"),
    "wider box": ({"box": {"lower": 0.99999, "upper": 1.00002}}, 1.0, "box [0.99999005, 1.0000199]"),
    "far out": ({"box": {"lower": 123456.789, "upper": 123457.5}}, 123457.0, "box [123456.79, 123457.5]"),
    "open below": ({"box": {"lower": -F32_MAX, "upper": 2.5e-7}}, 0.0, "box [−∞, 2.5e-7]"),
    "wide ball": ({"ball": {"norm": "2", "center": 1000.0, "radius": 12345.6}}, 1000.0,
                  "ℓ2 ball r = 12345.6 around 1000"),
    "fine ball": ({"ball": {"norm": "2", "center": 0.0, "radius": 1.00000001}}, 0.0,
                  "ℓ2 ball r = 1.00000001 around 0"),  # the radius is a float64: not float32's 1
    "both": ({"box": {"lower": 0.1, "upper": 1e30}, "ball": {"norm": "inf", "center": 1.0, "radius": 0.3}}, 1.0,
             "box [0.1, 9.9999994e+29] ∩ ℓ∞ ball r = 0.3 around 1"),
}
THOUSANDS = {"box": {"lower": 1000.0, "upper": 2000.0}}


def test_sets_read_exactly_are_found_by_the_filter_and_legends_say_central(service, page, artifacts):
    with httpx.Client(base_url=service.url, timeout=30) as http:
        for name, (constraint, x0, _) in SETS.items():
            made(http, name, constraint, x0)
        made(http, "thousands forward", THOUSANDS, 1500.0, method="zo-sgd")
        made(http, "thousands central", THOUSANDS, 1500.0, method="zo-sgd", difference="central")
        # what the page reads: the float32s the service holds, as float64 in JSON
        held = http.get("/v1/dashboard/sessions").json()["sessions"]
    lower = {r["name"]: r["constraint"].get("box", {}).get("lower") for r in held}
    assert lower["narrow box"] == float(np.nextafter(np.float32(0.99999), np.float32(1)))
    page.goto(service.url + "/dashboard")
    names = [*SETS, "thousands forward", "thousands central"]
    for name in names:
        row(page, name).wait_for(timeout=GUARD_MS)

    # the table's X column, exactly; the method column says "central"
    for name, (_, _, text) in SETS.items():
        assert row(page, name).locator("td.set").inner_text() == text, name
    for name in ("thousands forward", "thousands central"):
        assert row(page, name).locator("td.set").inner_text() == "box [1000, 2000]"
    assert row(page, "thousands central").locator("td:nth-child(3)").inner_text() == "ZO zo-sgd, central"
    assert row(page, "thousands forward").locator("td:nth-child(3)").inner_text() == "ZO zo-sgd"

    # the filter matches the X text too, and says so
    assert "X" in page.get_attribute("#filter", "placeholder")
    page.fill("#filter", "ball")
    until(page, lambda: shown(page) == ["both", "fine ball", "wide ball"], "the sessions in a ball alone")
    page.fill("#filter", "[1000, 2000]")
    until(page, lambda: shown(page) == ["thousands central", "thousands forward"], "the sessions in [1000, 2000]")
    page.fill("#filter", "0.99999005")
    until(page, lambda: shown(page) == ["narrow box", "wider box"], "the sessions from 0.99999005")
    page.fill("#filter", "")
    until(page, lambda: count(page, "#sessions tbody tr") == len(names), "every session again")

    # the session's title line
    row(page, "wide ball").click()
    until(page, lambda: "X = ℓ2 ball r = 12345.6 around 1000," in page.inner_text("#detail-sub"), "the ball's X")
    row(page, "far out").click()
    until(page, lambda: "X = box [123456.79, 123457.5]," in page.inner_text("#detail-sub"), "the far box's X")

    # the comparison's legend: two runs that differ only in their difference read apart
    for name in ("thousands forward", "thousands central", "narrow box"):
        row(page, name).locator("input.cmp").check()
    until(page, lambda: count(page, "#chart-compare .u-legend .u-series") == 4, "three sessions compared")
    legend = read(page.inner_text("#chart-compare .u-legend"))
    assert "thousands forward · zo-sgd in box [1000, 2000]" in legend, legend
    assert "thousands central · zo-sgd, central in box [1000, 2000]" in legend, legend
    assert "narrow box · zo-adamm in box [0.99999005, 1.0000099]" in legend, legend
    page.screenshot(path=str(artifacts / "sets.png"), full_page=True)
    assert page.errors == [] and page.violations() == []
