"""``/docs`` (Swagger UI) and ``/redoc``, served from files bundled with the package (npm
swagger-ui-dist 5.35.0 and redoc 2.5.4, each with its license), so they work offline; and the
app's OpenAPI description (``openapi.describe``).

One change to redoc.standalone.js: its side menu showed Redocly's logo from their CDN; the
address is ``data:,`` instead (an empty image, which the menu hides), so the page loads nothing
from elsewhere.

FastAPI's own pages start Swagger UI and ReDoc from an inline script, which a strict
Content-Security-Policy forbids; these pages load a small script file that does the same."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse

from .. import pages
from . import openapi

STATIC = Path(__file__).with_name("docs_static")
# Swagger UI and ReDoc write sanitized HTML (DOMPurify, React) into the page, which Trusted Types
# would refuse; ReDoc also styles itself with <style> elements it writes at run time
# (styled-components), and its search runs in a Worker made from a blob: URL
NO_TRUSTED_TYPES = {"require_trusted_types_for": None, "trusted_types": None}
SWAGGER_POLICY = pages.policy(**NO_TRUSTED_TYPES)
REDOC_POLICY = pages.policy(**NO_TRUSTED_TYPES, style_src="'self' 'unsafe-inline'", worker_src="blob:")


def install(app: FastAPI) -> None:
    app.openapi = lambda: openapi.describe(app)  # type: ignore[method-assign]

    @app.get("/docs", include_in_schema=False)
    async def swagger() -> FileResponse:
        return pages.page(STATIC / "swagger.html", SWAGGER_POLICY)

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> FileResponse:
        return pages.page(STATIC / "redoc.html", REDOC_POLICY)
