"""The connection pool (opened and closed in the app's lifespan) and the two ways a query fails
that callers must tell apart: the database is unreachable, or the pipeline has not built the
tables (or the read-only role) yet."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar

import psycopg
import psycopg.errors
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import dict_row, tuple_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from dbt_project.settings import Settings

Row = dict[str, Any]
T = TypeVar("T")
Query = str | sql.Composed

# The dbt project creates this LOGIN role as a member of `logml_reader` (SELECT on the output
# tables only); the API never connects as the owner of the data.
READ_ONLY_USER = "logml_api"


def reader_url(settings: Settings) -> str:
    """API_DATABASE_URL, else the pipeline's database (DATABASE_URL, else the embedded server)
    as the read-only user."""
    if settings.api_database_url:
        return settings.api_database_url
    from dbt_project.database import database_url  # starts the embedded server when needed

    params = conninfo_to_dict(database_url(settings))
    params["user"] = READ_ONLY_USER
    params.pop("password", None)  # the owner's password is never the reader's
    return make_conninfo("", **params)


class DatabaseOffline(Exception):
    """The database cannot be reached (server down, wrong host, pool exhausted)."""


class QueryTimeout(Exception):
    """A query ran past the statement timeout (e.g. a rare filter over a huge table)."""


class NotInitialized(Exception):
    """The database answers but the output tables (or the read-only role) do not exist yet."""


class Database:
    """A pool of read-only connections; `fetch` runs one parameterised SELECT."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.url = reader_url(settings)
        # Read-only for the session as well as by grants, so even a mis-granted role cannot
        # write; UTC so every timestamp leaves the API in one zone. The queries name the
        # tables without their schema: the output schema is the search path.
        options = (
            f"-c search_path={settings.logml_schema} -c default_transaction_read_only=on"
            f" -c statement_timeout={settings.api_statement_timeout_ms} -c TimeZone=UTC"
        )
        self.pool = AsyncConnectionPool(
            self.url,
            min_size=settings.api_pool_min_size,
            max_size=settings.api_pool_max_size,
            timeout=settings.api_pool_timeout,
            # autocommit: one round trip per SELECT, no BEGIN/COMMIT around it.
            kwargs={"autocommit": True, "row_factory": dict_row, "options": options},
            open=False,
            name="logml-api",
        )

    async def open(self) -> None:
        # wait=False: the app starts (and reports "offline") while the database is down.
        await self.pool.open(wait=False)

    async def close(self) -> None:
        await self.pool.close()

    async def fetch(self, query: Query, params: dict[str, Any] | None = None) -> list[Row]:
        """Every row of a SELECT, as dicts."""
        return await self._guarded(self._rows(query, params))

    async def fetch_json(
        self, query: Query, params: dict[str, Any] | None = None
    ) -> tuple[str, ...]:
        """The one row of a SELECT whose columns are JSON documents built in the database
        (cast to text), as JSON texts (NULL -> "null").

        PostgreSQL writes JSON in C: turning rows into Python objects and serialising them
        again cost more than the query itself (docs/results/api-latency.md).
        """
        return await self._guarded(self._json(query, params))

    async def _rows(self, query: Query, params: dict[str, Any] | None) -> list[Row]:
        async with self.pool.connection() as conn, conn.cursor() as cur:
            await cur.execute(query, params)
            return await cur.fetchall()  # type: ignore[return-value]

    async def _json(self, query: Query, params: dict[str, Any] | None) -> tuple[str, ...]:
        async with self.pool.connection() as conn:
            cur = conn.cursor(row_factory=tuple_row)
            await cur.execute(query, params)
            row = await cur.fetchone()
            assert row is not None, "a JSON query answers one row"
            return tuple("null" if value is None else str(value) for value in row)

    async def _guarded(self, work: Awaitable[T]) -> T:
        """Run one query; the driver's exceptions become the three that callers tell apart."""
        try:
            return await work
        except PoolTimeout:
            raise await self._why_unavailable() from None
        except (
            psycopg.errors.UndefinedTable,
            psycopg.errors.UndefinedFunction,  # the redaction functions: made by the same runs
            psycopg.errors.InsufficientPrivilege,
        ) as exc:
            raise NotInitialized(
                "the ML tables do not exist yet or the read-only role cannot read them:"
                " run the pipeline (`dbt build`) first"
            ) from exc
        except psycopg.errors.QueryCanceled as exc:
            raise QueryTimeout(
                f"the query took longer than {self.settings.api_statement_timeout_ms} ms:"
                " narrow it (e.g. since/until)"
            ) from exc
        except psycopg.OperationalError as exc:
            raise DatabaseOffline("database unreachable") from exc

    async def _why_unavailable(self) -> Exception:
        """The pool only says it timed out; one direct attempt tells a missing role (the
        pipeline has not run) from a server that is down."""
        try:
            conn = await psycopg.AsyncConnection.connect(self.url, connect_timeout=2)
        except psycopg.OperationalError as exc:
            if 'role "' in str(exc) and "does not exist" in str(exc):
                return NotInitialized(
                    "the read-only role does not exist yet: run the pipeline (`dbt build`)"
                )
            return DatabaseOffline("database unreachable")
        await conn.close()
        return DatabaseOffline("no database connection free (pool exhausted)")
