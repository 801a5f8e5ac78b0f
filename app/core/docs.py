"""/docs (Swagger UI), /redoc and /openapi.json, when DOCS_ENABLED (by default in development
only). The assets come from the fastapi-offline package and are served by the app itself, so
the pages work offline and make no request to another origin; each page carries a strict
Content-Security-Policy that allows its one inline script by hash."""

import base64
import hashlib
import re
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = Path(fastapi_offline.__file__).parent / "static"
ASSETS_URL = "/docs-assets"
OPENAPI_URL = "/openapi.json"


def docs_enabled(environment: str, setting: bool | None) -> bool:
    return setting if setting is not None else environment == "development"


def with_policy(page: HTMLResponse) -> HTMLResponse:
    """The page's own inline scripts, allowed by their hashes; everything else from here."""
    html = bytes(page.body).decode()
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()}'"
        for script in re.findall(r"<script>(.*?)</script>", html, re.DOTALL)
    )
    policy = (
        f"default-src 'self'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; worker-src 'self' blob:; frame-ancestors 'none'"
    )
    return HTMLResponse(html, headers={"Content-Security-Policy": policy})


def mount_docs(app: FastAPI) -> None:
    """Pages built once: they depend on nothing but the app's title."""
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS), name="docs-assets")
    swagger = with_policy(
        get_swagger_ui_html(
            openapi_url=OPENAPI_URL,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_URL}/favicon.png",
        )
    )
    redoc = with_policy(
        get_redoc_html(
            openapi_url=OPENAPI_URL,
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )
    )

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return swagger

    @app.get("/redoc", include_in_schema=False)
    async def redoc_ui() -> HTMLResponse:
        return redoc
