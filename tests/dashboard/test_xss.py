"""Hostile names in a real Chromium: every string a client can store and the dashboard shows
(session names, metric names) holds one of the payloads below, and the page must show each as
text and run none of them.

Each payload, were it ever parsed as markup, would call ``top.__xss.push(N)`` or load a URL
under ``/xss/`` (a request the test sees even when the script itself is blocked).  The page is
checked twice: as served, under its Content-Security-Policy (no violation may occur: nothing
even tried to run), and with the policy stripped (the escaping alone must hold).
"""

from __future__ import annotations

import json

import httpx
import pytest
from waits import GUARD_MS, count, points, read, until
from workloads import traced_session

from zoadamm import SessionConfig

PAYLOADS = [
    "<script>top.__xss.push(1)</script>",
    "<img src=/xss/2 onerror=top.__xss.push(2)>",
    '"><img src=/xss/3 onerror=top.__xss.push(3)>',
    "'><img src=/xss/4 onerror=top.__xss.push(4)>",
    "<svg onload=top.__xss.push(5)>",
    "<svg><script>top.__xss.push(6)</script></svg>",
    '<iframe srcdoc="<script>top.__xss.push(7)</script>"></iframe>',
    '<iframe src="javascript:top.__xss.push(8)"></iframe>',
    "javascript:top.__xss.push(9)",
    '<a href="javascript:top.__xss.push(10)" id=xss10>x</a>',
    "<body onload=top.__xss.push(11)>",
    "<details open ontoggle=top.__xss.push(12)>",
    "<input autofocus onfocus=top.__xss.push(13)>",
    "<video><source onerror=top.__xss.push(14)></video>",
    "<audio src=/xss/15 onerror=top.__xss.push(15)>",
    '<object data="javascript:top.__xss.push(16)"></object>',
    '<embed src="javascript:top.__xss.push(17)">',
    "<math><mtext><table><mglyph><style><img src=/xss/18 onerror=top.__xss.push(18)>",
    "</option><img src=/xss/19 onerror=top.__xss.push(19)>",
    "</select><img src=/xss/20 onerror=top.__xss.push(20)>",
    "</title><img src=/xss/21 onerror=top.__xss.push(21)>",
    "</textarea><img src=/xss/22 onerror=top.__xss.push(22)>",
    "${top.__xss.push(23)}",
    "{{constructor.constructor('top.__xss.push(24)')()}}",
    "<style>@import '/xss/25';</style>",
    "<link rel=stylesheet href=/xss/26>",
    "<base href=/xss/27/>",
    '<meta http-equiv=refresh content="0;url=/xss/28">',
    "<form action=/xss/29><button id=xss29>go</button></form>",
    '" onmouseover="top.__xss.push(30)" x="',
    "' onfocus='top.__xss.push(31)' autofocus x='",
    "<scr<script>ipt>top.__xss.push(32)</scr</script>ipt>",
    "&lt;img src=/xss/33 onerror=top.__xss.push(33)&gt;",
    '<div style="background:url(/xss/34)">x</div>',
    '<img srcset="/xss/35 1x">',
    "<svg><animate onbegin=top.__xss.push(36) attributeName=x dur=1s>",
    "<marquee onstart=top.__xss.push(37)>x</marquee>",
    "acc<img src=/xss/38 onerror=top.__xss.push(38)>",
    "--><img src=/xss/39 onerror=top.__xss.push(39)>",
    "\u2028</script><script>top.__xss.push(40)</script>",
    "<svg><use href=data:image/svg+xml,<svg%20id='x'%20onload='top.__xss.push(41)'/>#x></svg>",
    "<noscript><p title=\"</noscript><img src=/xss/42 onerror=top.__xss.push(42)>\">",
]
SENTINEL = "window.__xss = [];"


def metric_name(payload: str) -> str:
    """A metric name from a payload; with "acc" as a word in it, the table also shows it beside the value.
    The API refuses a metric name with a character that does not print (payload 40's U+2028: the
    fixture checks it), so those characters are left out of the name."""
    return "".join(c for c in "acc " + payload if c.isprintable())[:100].rstrip()


def session_name(payload: str) -> str:
    """A session name from a payload: whole, but for a line separator (payload 40's U+2028), which
    the API refuses in a session's name (the fixture checks it) and which is then a space."""
    return payload.replace("\u2028", " ").strip()


@pytest.fixture(scope="module")
def hostile(service):
    """A session named after each payload, reporting a metric named after it; and one session
    that reports every payload's metric, so that one legend and the comparison's list hold them all."""
    assert len(PAYLOADS) >= 30 and len(set(PAYLOADS)) == len(PAYLOADS)
    assert all(f"({i})" in p or f"/xss/{i}" in p for i, p in enumerate(PAYLOADS, 1))
    with httpx.Client(base_url=service.url, timeout=30) as http:
        unprintable = traced_session(http, "unprintable", [1.0])
        refused = http.post(f"/v1/sessions/{unprintable}/metrics", json={"value": 1.0, "metrics": {PAYLOADS[39]: 1.0}})
        assert refused.status_code == 422 and "metric's name" in refused.text
        http.delete(f"/v1/sessions/{unprintable}")
        refused = http.post("/v1/sessions", json={"dim": 2, "name": PAYLOADS[39]})
        assert refused.status_code == 422 and "session's name is one line" in refused.text
        ids = [traced_session(http, session_name(payload), [3.0, 2.0, 1.0],
                              metrics=[{"value": 1.0, "metrics": {metric_name(payload): 0.5}}])
               for payload in PAYLOADS]
        names = [metric_name(p) for p in PAYLOADS]
        every = traced_session(http, "every metric", [3.0, 2.0, 1.0], metrics=[
            {"value": 1.0, "metrics": {n: 0.1 * i for i, n in enumerate(names[:30])}},
            {"value": 0.9, "metrics": {n: 0.1 * i for i, n in enumerate(names[30:])}},
        ])
    return ids, every


def open_dashboard(page, url: str, ids: list[str], selected: str, strip_csp: bool) -> list[str]:
    """The dashboard with every session ticked for comparison and ``selected`` shown in detail;
    the URLs of the requests the page made."""
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on("dialog", lambda d: requests.append("dialog " + d.message))
    page.add_init_script(SENTINEL + f"localStorage.setItem('zoadamm.compared', {json.dumps(json.dumps(ids))});")
    if strip_csp:
        def without_policy(route):
            response = route.fetch()
            headers = {k: v for k, v in response.headers.items() if k.lower() != "content-security-policy"}
            route.fulfill(response=response, headers=headers)

        page.route("**/dashboard", without_policy)
    page.goto(f"{url}/dashboard#s={selected}")
    until(page, lambda: count(page, "#sessions tbody tr") == len(ids), "every session in the table")
    nothing_ran(page, requests)
    until(page, lambda: count(page, "#chart-compare .u-legend .u-series") == len(ids) + 1, "every session compared")
    until(page, lambda: count(page, "#chart-metrics .u-legend .u-series") > 30, "every metric in the legend")
    return requests


def nothing_ran(page, requests: list[str]) -> None:
    assert page.evaluate("window.__xss") == [], "a payload ran"
    assert not [u for u in requests if "/xss" in u or u.startswith("dialog")], "a payload became markup"
    assert page.violations() == []


def texts(page, selector: str) -> list[str]:
    return [read(t) for t in page.locator(selector).evaluate_all("(els) => els.map((e) => e.textContent)")]


@pytest.mark.parametrize("strip_csp", [False, True], ids=["as-served", "policy-stripped"])
def test_no_payload_runs_and_each_shows_as_text(service, hostile, page, artifacts, strip_csp):
    ids, every = hostile
    requests = open_dashboard(page, service.url, ids + [every], every, strip_csp)
    names = [metric_name(p) for p in PAYLOADS]

    # the table: each name as typed, in the name cell; the newest metric beside its value
    cells = page.locator("#sessions tbody td.name").evaluate_all("(els) => els.map((e) => e.firstChild.textContent)")
    assert {session_name(p) for p in PAYLOADS} <= set(cells)
    metric_cells = " ".join(texts(page, "#sessions tbody td:nth-child(13)"))
    assert sum(n in metric_cells for n in names) == len(names)  # as sent, "_" included
    # the detail's legend: every metric name; the comparison: every session name (with its
    # method) and metric name
    assert set(names) <= set(texts(page, "#chart-metrics .u-legend .u-label"))
    legend = {f"{session_name(p)} · zo-adamm · lr {SessionConfig(dim=1).lr:g}" for p in PAYLOADS}
    assert legend <= set(texts(page, "#chart-compare .u-legend .u-label"))
    assert {f"metric: {n}" for n in names} <= set(texts(page, "#compare-y option"))
    page.select_option("#compare-y", f"metric:{names[1]}")
    until(page, lambda: points(page, "chart-compare") >= 1, "the payload metric compared")
    # the detail's title, for a hostile session
    page.click(f"#sessions tbody tr[data-id='{ids[2]}'] td.name")
    page.locator("#detail-title", has_text=PAYLOADS[2]).wait_for(timeout=GUARD_MS)
    assert page.text_content("#detail-title") == PAYLOADS[2]
    page.hover("#sessions tbody td.name")  # onmouseover, had one become an attribute
    page.keyboard.press("Tab")  # onfocus, likewise
    page.wait_for_timeout(500)
    page.screenshot(path=str(artifacts / f"xss-{'stripped' if strip_csp else 'served'}.png"), full_page=True)

    nothing_ran(page, requests)
    assert count(page, "#sessions img, #sessions iframe, #sessions svg, #sessions script, select option *") == 0
    assert page.errors == []
