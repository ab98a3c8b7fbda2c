"""The application: routers, error handlers, CORS and the pool's lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from api import auth, docs, errors, incidents, legacy, model_versions, monitoring, page, v1
from api.auth import Authentication, TokenCheck
from api.cache import ResponseCache
from api.database import Database
from dbt_project.settings import Settings, load_settings


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; settings default to the environment (API_*, LOGML_SCHEMA, DATABASE_URL:
    dbt_project/settings.py)."""
    settings = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.db = Database(settings)
        await app.state.db.open()
        try:
            yield
        finally:
            await app.state.db.close()

    app = FastAPI(
        title="logml API",
        version="1.0.0",
        description="Read-only access to the ML results that dbt builds in PostgreSQL.",
        lifespan=lifespan,
        openapi_url="/api/v1/openapi.json",
        docs_url=None,  # FastAPI's own /docs loads Swagger UI from a CDN: api/docs.py serves it
        redoc_url=None,
    )
    errors.install(app)
    app.state.tokens = TokenCheck()
    # added first, so it runs inside CORS: cached bodies never hold another origin's headers
    app.add_middleware(ResponseCache, seconds=settings.api_cache_seconds)
    # outside the cache, so a stored answer is only ever replayed to someone signed in
    if settings.api_requires_auth():
        app.add_middleware(Authentication, settings=settings, tokens=app.state.tokens)
        fastapi_openapi = app.openapi
        app.openapi = lambda: _requiring_tokens(fastapi_openapi())  # type: ignore[method-assign]
    if settings.api_cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.api_cors_origins,
            allow_methods=["GET"],
            allow_headers=["Authorization"],
        )
    app.include_router(legacy.router)
    app.include_router(v1.router)
    app.include_router(model_versions.router)
    app.include_router(monitoring.router)
    app.include_router(incidents.router)
    app.include_router(docs.router)
    app.include_router(auth.router)
    app.include_router(page.router)
    app.mount("/static", page.static_files, name="static")
    return app


def _requiring_tokens(document: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI document (FastAPI's, built once and kept), saying that every operation needs
    a bearer token: Swagger UI at /docs then offers an Authorize button (in a signed-in
    browser the session cookie is enough)."""
    document.setdefault("components", {})["securitySchemes"] = {
        "token": {"type": "http", "scheme": "bearer", "description": "python -m api tokens"}
    }
    document["security"] = [{"token": []}]
    return document
