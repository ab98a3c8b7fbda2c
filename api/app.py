"""The application: routers, error handlers, CORS and the pool's lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from api import docs, errors, incidents, legacy, model_versions, monitoring, page, v1
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
    # added first, so it runs inside CORS: cached bodies never hold another origin's headers
    app.add_middleware(ResponseCache, seconds=settings.api_cache_seconds)
    if settings.api_cors_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=settings.api_cors_origins, allow_methods=["GET"]
        )
    app.include_router(legacy.router)
    app.include_router(v1.router)
    app.include_router(model_versions.router)
    app.include_router(monitoring.router)
    app.include_router(incidents.router)
    app.include_router(docs.router)
    app.include_router(page.router)
    app.mount("/static", page.static_files, name="static")
    return app
