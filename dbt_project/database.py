"""Where the database is (DATABASE_URL, else an embedded PostgreSQL started on demand) and how
the project's code connects to it: psycopg 3, one connection per command, opened by the
command's entry point (`job_connection`) and handed down to the functions it calls."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from dbt_project.migrations import migrate
from dbt_project.settings import PROJECT_ROOT as PROJECT_ROOT  # where it was always imported from
from dbt_project.settings import Settings, load_settings
from dbt_project.source import configured

EMBEDDED_DATABASE = "logml"

# Scoring queries are large CASE trees and joins; JIT compiles them slower than it runs them,
# so the embedded server has it off (servers of users get `set jit = off` from the dbt hooks).
_SERVER_SETTINGS = {
    "jit": "off",
    "shared_buffers": "512MB",
    "work_mem": "64MB",
    "maintenance_work_mem": "256MB",
    "max_wal_size": "4GB",
    "checkpoint_timeout": "15min",
}


def embedded_data_dir() -> Path:
    """The embedded server's data directory (ignored by git); EMBEDDED_PGDATA moves it."""
    return load_settings().embedded_pgdata.resolve()


def _prepare_pgserver() -> None:
    """pgserver keeps its lock file in the user's runtime dir; give it one where none is set
    (before pgserver is imported: it reads the directory at import time)."""
    if "XDG_RUNTIME_DIR" not in os.environ:
        runtime_dir = Path(f"/tmp/logml-runtime-{os.getuid()}")
        runtime_dir.mkdir(mode=0o700, exist_ok=True)
        os.environ["XDG_RUNTIME_DIR"] = str(runtime_dir)


def start_embedded(data_dir: Path | None = None) -> str:
    """Start (or reuse) the embedded server and return a URL for the project's database."""
    _prepare_pgserver()
    import pgserver  # imported here: users with DATABASE_URL never need it to load

    data_dir = data_dir or embedded_data_dir()
    data_dir.mkdir(parents=True, exist_ok=True)
    # cleanup_mode=None: the server outlives this process so later commands reuse it.
    server = pgserver.get_server(data_dir, cleanup_mode=None)
    with connect(server.get_uri("postgres")) as conn:
        _apply_server_settings(conn)
        found = conn.execute("select 1 from pg_database where datname = %s", (EMBEDDED_DATABASE,))
        if found.fetchone() is None:
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(EMBEDDED_DATABASE)))
    return str(server.get_uri(EMBEDDED_DATABASE))


def _apply_server_settings(conn: psycopg.Connection) -> None:
    changed = False
    for name, value in _SERVER_SETTINGS.items():
        if conn.execute("select from pg_settings where name = %s", (name,)).fetchone() is None:
            continue
        if conn.execute("select current_setting(%s)", (name,)).fetchone() != (value,):
            # ALTER SYSTEM takes no bound parameters: the value goes in as a quoted literal
            statement = sql.SQL("alter system set {} = {}")
            conn.execute(statement.format(sql.Identifier(name), sql.Literal(value)))
            changed = True
    if changed:
        # shared_buffers needs a restart to take effect; the rest a reload.
        conn.execute("select pg_reload_conf()")


def stop_embedded(data_dir: Path | None = None) -> bool:
    """Stop the embedded server if it runs; True when one was stopped."""
    _prepare_pgserver()
    from pgserver import _commands  # pg_ctl is attached to this module at import time
    from pgserver.utils import PostmasterInfo

    data_dir = data_dir or embedded_data_dir()
    info = PostmasterInfo.read_from_pgdata(data_dir) if data_dir.exists() else None
    if info is None or not info.is_running():
        return False
    user = "pgserver" if os.geteuid() == 0 else None
    try:
        _commands.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=data_dir, user=user)  # type: ignore[attr-defined]
    except subprocess.CalledProcessError:
        if info.process is not None:
            info.process.terminate()
    return True


def database_url(settings: Settings | None = None) -> str:
    """DATABASE_URL if set, otherwise the embedded server's (started if needed)."""
    settings = settings or load_settings()
    return settings.database_url or start_embedded(settings.embedded_pgdata.resolve())


def connect(url: str) -> psycopg.Connection:
    """An autocommit connection (use it in a `with` block to close it): each statement commits
    on its own, and work that must commit whole or not at all says so with
    `with conn.transaction():`, so no transaction stays open (holding locks) by accident."""
    return psycopg.connect(url, autocommit=True)


@contextmanager
def job_connection(url: str | None = None) -> Iterator[psycopg.Connection]:
    """The one connection of a command, to `url` or the configured database, with the schema
    migrations applied (dbt_project.migrations); closed at the end."""
    with connect(url or database_url()) as conn:
        migrate(conn)
        yield conn


def url_of(conn: psycopg.Connection) -> str:
    """A connection string for the database `conn` is connected to, for what must connect on
    its own (dbt's subprocess)."""
    password = conn.info.password
    return make_conninfo(conn.info.dsn, password=password) if password else conn.info.dsn


def output_table(name: str) -> sql.Identifier:
    """A table of the output schema (LOGML_SCHEMA), quoted for psycopg's sql composition."""
    return sql.Identifier(load_settings().logml_schema, name)


def source_table() -> sql.Identifier:
    """The log source table or view, as the project records it (dbt_project/source.py)."""
    return configured().relation


def output_name(name: str) -> str:
    """`schema.name` of a table of the output schema, as messages show it."""
    return f"{load_settings().logml_schema}.{name}"


def table_exists(conn: psycopg.Connection, table: sql.Identifier) -> bool:
    """Whether `table` (a table or view) exists and this user can see it."""
    return bool(one(conn.execute("select to_regclass(%s) is not null", (table.as_string(),)))[0])


def one(cur: psycopg.Cursor[Any]) -> tuple[Any, ...]:
    """The row of a query that always returns exactly one (an aggregate, an exists)."""
    row = cur.fetchone()
    if row is None:
        raise LookupError("the query returned no row")
    return tuple(row)
