"""The service's pages: the front door at ``/``, the one mount that serves every page's scripts
and styles (``/assets``), and the headers every page carries.

Every page is a file of HTML with no inline script or style, so it can be served under a strict
Content-Security-Policy: scripts and styles only from this service, no plugins, no ``<base>``,
never inside another site's frame, and no ``Referer`` that would carry a session id elsewhere.
Whatever a client stored (a session's name, a metric's name) can then at worst show as text.
"""

from __future__ import annotations

import html
import os
from pathlib import Path

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

ASSETS = "/assets"
# the folders of the one mount: the dashboard's files, and the bundled Swagger UI and ReDoc
ASSET_FOLDERS: list[str | tuple[str, str]] = [("zoadamm_service.dashboard", "static"),
                                              ("zoadamm_service.api", "docs_static")]
LINKS = {
    "dashboard": "/dashboard", "docs": "/docs", "redoc": "/redoc", "openapi": "/openapi.json",
    "metrics": "/metrics", "healthz": "/healthz",
}


DIRECTIVES = {
    "default-src": "'none'", "script-src": "'self'", "style-src": "'self'", "img-src": "'self' data:",
    "connect-src": "'self'", "font-src": "'self'", "form-action": "'self'", "base-uri": "'none'",
    "object-src": "'none'", "frame-ancestors": "'none'",
    # Trusted Types make the browser itself refuse any string written into innerHTML and its
    # kin: the dashboard builds its elements from text only, and this keeps it so
    "require-trusted-types-for": "'script'", "trusted-types": "'none'",
}


def policy(**changes: str | None) -> str:
    """A Content-Security-Policy: ``DIRECTIVES`` with ``changes`` (``style_src="..."``; None
    drops a directive) for a page that needs more."""
    directives: dict[str, str | None] = dict(DIRECTIVES)
    directives.update({name.replace("_", "-"): value for name, value in changes.items()})
    return "; ".join(f"{name} {value}" for name, value in directives.items() if value is not None)


STRICT = policy()


def page_headers(csp: str = STRICT) -> dict[str, str]:
    # no-cache: revalidated on every load (a 304 when unchanged), so a page never runs with the
    # scripts of an older version of the service
    return {"Content-Security-Policy": csp, "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
            "Cache-Control": "no-cache"}


class Assets(StaticFiles):
    """Starlette's static files, with the pages' headers on every answer.  The pages' own HTML
    files are not assets: each is served at its route (``/dashboard``, ``/docs``, ``/redoc``)
    with its own policy, under which a copy at /assets would not even run."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        if path.endswith(".html"):
            raise HTTPException(status_code=404)
        return await super().get_response(path, scope)

    def file_response(self, full_path: str | os.PathLike[str], stat_result: os.stat_result, scope: Scope,
                      status_code: int = 200) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers.update(page_headers())
        return response


def page(file: Path, csp: str = STRICT) -> FileResponse:
    """A page of the service: an HTML file, with the headers of a page."""
    return FileResponse(file, media_type="text/html", headers=page_headers(csp))


router = APIRouter(include_in_schema=False)


def install(app: FastAPI) -> None:
    app.mount(ASSETS, Assets(packages=ASSET_FOLDERS), name="assets")
    app.include_router(router)


@router.get("/")
async def front_door(request: Request) -> Response:
    """The version and where to go from here: a page, or JSON for ``Accept: application/json``."""
    accept = request.headers.get("accept", "")
    if "application/json" in accept and "text/html" not in accept:
        return JSONResponse({"service": "zoadamm", "version": request.app.version, "links": LINKS})
    return HTMLResponse(FRONT_DOOR.format(version=html.escape(request.app.version)), headers=page_headers())


FRONT_DOOR = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>zoadamm</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/assets/dashboard.css">
</head>
<body>
<header><h1>zoadamm <span class="sub">{version}</span></h1></header>
<main class="front">
  <section class="card">
    <p>Zeroth-order AdaMM as a service: ask for directions, tell function values.</p>
    <ul>
      <li><a href="/dashboard">Dashboard</a>: sessions, their curves, comparisons</li>
      <li><a href="/docs">API reference</a> (Swagger UI; also <a href="/redoc">ReDoc</a>,
        <a href="/openapi.json">OpenAPI JSON</a>)</li>
      <li><a href="/metrics">/metrics</a>: Prometheus</li>
      <li><a href="/healthz">/healthz</a>: 200 when the store answers</li>
    </ul>
  </section>
</main>
</body>
</html>
"""
