"""Settings from environment variables, read once when the app is created."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import psycopg.conninfo

# The dbt project creates this LOGIN role as a member of `logml_reader` (SELECT on the output
# tables only); the API never connects as the owner of the data.
READ_ONLY_USER = "logml_api"


def _default_database_url() -> str:
    """The pipeline's database (DATABASE_URL, else the embedded server) as the read-only user."""
    from dbt_project.database import database_url  # starts the embedded server when needed

    params = psycopg.conninfo.conninfo_to_dict(database_url())
    params["user"] = READ_ONLY_USER
    params.pop("password", None)  # the owner's password is never the reader's
    return psycopg.conninfo.make_conninfo("", **params)


def _origins(value: str) -> list[str]:
    return [origin.strip() for origin in value.split(",") if origin.strip()]


@dataclass(frozen=True)
class Settings:
    database_url: str
    host: str = "127.0.0.1"
    port: int = 8000
    # uvicorn worker processes; each has its own pool. One per core keeps both cores serving
    # when the framework, not the database, is the busy part (see bench/api_latency.py).
    workers: int = 1
    # Empty: no CORS headers at all, so browsers only let same-origin pages read the API.
    cors_origins: list[str] = field(default_factory=list)
    schema: str = "ml"
    pool_min_size: int = 2
    pool_max_size: int = 8
    # Seconds a request waits for a connection before the database counts as unreachable.
    pool_timeout: float = 3.0
    statement_timeout_ms: int = 5000
    # How old a served GET response under /api/ may be (api/cache.py); 0 turns caching off.
    cache_seconds: float = 2.0

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        return cls(
            database_url=env.get("API_DATABASE_URL") or _default_database_url(),
            host=env.get("API_HOST", cls.host),
            port=int(env.get("API_PORT", cls.port)),
            workers=int(env.get("API_WORKERS", cls.workers)),
            cors_origins=_origins(env.get("API_CORS_ORIGINS", "")),
            schema=env.get("API_SCHEMA", cls.schema),
            pool_min_size=int(env.get("API_POOL_MIN_SIZE", cls.pool_min_size)),
            pool_max_size=int(env.get("API_POOL_MAX_SIZE", cls.pool_max_size)),
            pool_timeout=float(env.get("API_POOL_TIMEOUT", cls.pool_timeout)),
            statement_timeout_ms=int(env.get("API_STATEMENT_TIMEOUT_MS", cls.statement_timeout_ms)),
            cache_seconds=float(env.get("API_CACHE_SECONDS", cls.cache_seconds)),
        )
