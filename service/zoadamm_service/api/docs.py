"""``/docs`` (Swagger UI) and ``/redoc``, served from files bundled with the package (npm
swagger-ui-dist 5.35.0 and redoc 2.5.4, each with its license), so they work offline; and the
app's OpenAPI description (``openapi.describe``)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, HTTPException
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

from . import openapi

STATIC = Path(__file__).with_name("docs_static")
ASSETS = "/docs/assets"
TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png", ".txt": "text/plain"}


def install(app: FastAPI) -> None:
    app.openapi = lambda: openapi.describe(app)  # type: ignore[method-assign]
    url = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    async def swagger() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=url, title=f"{app.title} API", swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css", swagger_favicon_url=f"{ASSETS}/favicon-32x32.png",
            swagger_ui_parameters={"validatorUrl": None},  # no call to the public validator either
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url=url, title=f"{app.title} API", redoc_js_url=f"{ASSETS}/redoc.standalone.js",
                              redoc_favicon_url=f"{ASSETS}/favicon-32x32.png", with_google_fonts=False)

    @app.get(ASSETS + "/{name}", include_in_schema=False)
    async def asset(name: str) -> FileResponse:
        path = STATIC / name
        if "/" in name or name.startswith(".") or not path.is_file():
            raise HTTPException(404)
        return FileResponse(path, media_type=TYPES.get(path.suffix, "application/octet-stream"),
                            headers={"Cache-Control": "max-age=86400"})
