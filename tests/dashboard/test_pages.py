"""The service's pages (the front door, the dashboard, /docs, /redoc) and the one mount that
serves their files: the headers every page carries, and each page working under its policy in
a real Chromium with no violation."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from waits import GUARD_MS, count, until

from zoadamm_service import pages
from zoadamm_service.main import create_app
from zoadamm_service.settings import Settings

PAGES = ["/", "/dashboard", "/docs", "/redoc"]
STATIC = Path(pages.__file__).parent
OUR_SCRIPTS = [*(STATIC / "dashboard" / "static").glob("*.js"), *(STATIC / "api" / "docs_static").glob("*-init.js")]


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(Settings(redis_url=None))) as c:
        yield c


def directives(policy: str) -> dict[str, str]:
    return dict((part.strip().split(" ", 1) + [""])[:2] for part in policy.split(";"))


@pytest.mark.parametrize("path", PAGES)
def test_every_page_has_a_strict_policy_and_no_referrer(client, path):
    answer = client.get(path)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    policy = directives(answer.headers["content-security-policy"])
    assert policy["script-src"] == "'self'", "no inline script, no eval, nothing from elsewhere"
    assert policy["object-src"] == policy["base-uri"] == policy["frame-ancestors"] == "'none'"
    assert policy["default-src"] == "'none'"
    assert answer.headers["referrer-policy"] == "no-referrer"
    assert "<script>" not in answer.text and "<style" not in answer.text
    assert not re.search(r"<[^>]*\s(on\w+|style)\s*=", answer.text), "no inline handler or style"
    if path in ("/", "/dashboard"):  # pages of our own: Trusted Types too
        assert policy["require-trusted-types-for"] == "'script'" and policy["trusted-types"] == "'none'"
        assert policy["style-src"] == "'self'"


def test_the_front_door_answers_a_page_or_json(client):
    page = client.get("/", headers={"accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    for link in ("/dashboard", "/docs", "/metrics", "/healthz"):
        assert f'href="{link}"' in page.text
    assert client.app.version in page.text
    answer = client.get("/", headers={"accept": "application/json"})
    assert answer.headers["content-type"] == "application/json"
    body = answer.json()
    assert body["version"] == client.app.version
    assert {"dashboard": "/dashboard", "docs": "/docs", "metrics": "/metrics", "healthz": "/healthz"}.items() <= \
        body["links"].items()
    for link in body["links"].values():
        assert client.get(link).status_code == 200, link


def test_paths_are_exact_and_no_redirect_repeats_the_host_header(client):
    """Starlette redirects a path with a trailing slash to the one without, writing the request's
    Host header into Location: a cache in front would hand that redirect to everyone."""
    forged = {"Host": "evil.example"}
    for path in ("/v1/sessions/", "/v1/sessions/0123456789abcdef0123456789abcdef/", "/healthz/"):
        answer = client.get(path, headers=forged, follow_redirects=False)
        assert answer.status_code == 404 and "location" not in answer.headers, (path, answer.headers)
    assert client.get("/dashboard/", headers=forged, follow_redirects=False).status_code == 200  # as people type it


def test_one_static_mount_serves_every_pages_files_with_the_page_headers(client):
    mounts = [r for r in client.app.routes if isinstance(r, Mount) and isinstance(r.app, StaticFiles)]
    assert [m.path for m in mounts] == ["/assets"]
    for name in ("dashboard.js", "uPlot.iife.min.js", "swagger-ui-bundle.js", "redoc.standalone.js",
                 "uPlot.LICENSE.txt", "swagger-ui-dist.LICENSE.txt", "redoc.LICENSE.txt"):
        answer = client.get(f"/assets/{name}")
        assert answer.status_code == 200, name
        assert answer.headers["cache-control"] == "no-cache" and "content-security-policy" in answer.headers
        again = client.get(f"/assets/{name}", headers={"if-none-match": answer.headers["etag"]})
        assert again.status_code == 304  # revalidated, not sent again
    assert client.get("/assets/dashboard.js").headers["content-type"].startswith("text/javascript")
    for probe in ("/assets/..%2Fpages.py", "/assets/../pages.py", "/assets/missing.js", "/assets/",
                  "/assets/index.html", "/assets/swagger.html", "/assets/redoc.html"):  # pages have routes
        assert client.get(probe).status_code == 404, probe
    # the assets of the old per-page routes are gone
    assert client.get("/dashboard/assets/dashboard.js").status_code == 404
    assert client.get("/docs/assets/swagger-ui.css").status_code == 404


def test_our_scripts_write_no_markup():
    """Elements are built from text (dom.js); nothing is parsed from a string."""
    assert len(OUR_SCRIPTS) >= 8
    for script in OUR_SCRIPTS:
        if script.name.startswith("uPlot"):
            continue
        text = script.read_text()
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
            assert sink not in text, f"{script.name} uses {sink}"


@pytest.mark.parametrize("path, ready", [
    ("/", "a[href='/dashboard']"),
    ("/docs", ".swagger-ui .opblock"),
    ("/redoc", "[role=search], .api-content"),
])
def test_each_page_works_under_its_policy(service, page, artifacts, path, ready):
    outside = []
    ours = (service.url, "blob:" + service.url)  # ReDoc's search runs in a Worker from a blob: URL
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(ours) else None)
    page.goto(service.url + path)
    page.locator(ready).first.wait_for(timeout=GUARD_MS)
    page.wait_for_timeout(1000)  # whatever the page does once shown
    page.screenshot(path=str(artifacts / f"page-{path.strip('/') or 'front'}.png"))
    assert outside == [] and page.violations() == [] and page.errors == []


def test_swagger_ui_can_try_a_call_under_the_policy(service, page):
    page.goto(service.url + "/docs")
    operation = page.locator(".opblock", has_text="/healthz").first
    operation.locator(".opblock-summary").click()
    operation.locator("button.try-out__btn").click()
    operation.locator("button.execute").click()
    status = ".live-responses-table tbody .response-col_status"
    until(page, lambda: count(page, status) > 0, "the response")
    assert page.locator(status).first.inner_text().strip() == "200"
    assert page.violations() == [] and page.errors == []
