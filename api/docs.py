"""Interactive API documentation at /docs: Swagger UI on the OpenAPI document, offline. The
Swagger UI files come from the fastapi-offline package (a locked dependency), served here,
so the page loads nothing from a CDN."""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from fastapi import APIRouter
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response
from starlette.exceptions import HTTPException

router = APIRouter(include_in_schema=False)

ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon.png": "image/png",
}


@router.get("/docs")
async def swagger_ui() -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url="/api/v1/openapi.json",
        title="logml API",
        swagger_js_url="/docs/assets/swagger-ui-bundle.js",
        swagger_css_url="/docs/assets/swagger-ui.css",
        swagger_favicon_url="/docs/assets/favicon.png",
        # no badge fetched from validator.swagger.io
        swagger_ui_parameters={"validatorUrl": None},
    )


@router.get("/docs/assets/{name}")
async def asset(name: str) -> Response:
    media_type = ASSETS.get(name)
    if media_type is None:
        raise HTTPException(404, "Not Found")
    try:
        content = _read(name)
    except ModuleNotFoundError:
        raise HTTPException(503, "Swagger UI files missing: `make setup` installs them") from None
    # the files change only with the package version
    return Response(content, media_type=media_type, headers={"Cache-Control": "max-age=86400"})


@cache
def _read(name: str) -> bytes:
    return (files("fastapi_offline") / "static" / name).read_bytes()
