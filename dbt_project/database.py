"""Where the database is: DATABASE_URL when set, else an embedded PostgreSQL started on demand."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg2
import psycopg2.extensions

PROJECT_ROOT = Path(__file__).resolve().parent.parent
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
    return Path(os.environ.get("EMBEDDED_PGDATA", PROJECT_ROOT / ".pgdata")).resolve()


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
    admin_url = server.get_uri("postgres")
    with connect(admin_url, autocommit=True) as conn, conn.cursor() as cur:
        _apply_server_settings(cur)
        cur.execute("select 1 from pg_database where datname = %s", (EMBEDDED_DATABASE,))
        if cur.fetchone() is None:
            cur.execute(f'create database "{EMBEDDED_DATABASE}"')
    return server.get_uri(EMBEDDED_DATABASE)


def _apply_server_settings(cur: psycopg2.extensions.cursor) -> None:
    changed = False
    for name, value in _SERVER_SETTINGS.items():
        cur.execute("select setting, unit from pg_settings where name = %s", (name,))
        if cur.fetchone() is None:
            continue
        cur.execute("select current_setting(%s)", (name,))
        if cur.fetchone()[0] != value:
            cur.execute(f"alter system set {name} = %s", (value,))
            changed = True
    if changed:
        # shared_buffers needs a restart to take effect; the rest a reload.
        cur.execute("select pg_reload_conf()")


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


def source_relation() -> tuple[str, str]:
    """(schema, table) of the log source: the loader writes it, dbt reads it (the same
    environment variables are the defaults of the dbt vars log_source_schema/log_source_table)."""
    return (
        os.environ.get("LOG_SOURCE_SCHEMA", "public"),
        os.environ.get("LOG_SOURCE_TABLE", "log_entries"),
    )


def database_url() -> str:
    """DATABASE_URL if set, otherwise the embedded server's (started if needed)."""
    url = os.environ.get("DATABASE_URL")
    return url if url else start_embedded()


def connection_params(url: str) -> dict[str, str]:
    """libpq parameters of a URL or DSN (host may be a socket directory)."""
    return psycopg2.extensions.parse_dsn(url)


@contextmanager
def connect(
    url: str | None = None, *, autocommit: bool = False
) -> Iterator[psycopg2.extensions.connection]:
    """A connection that commits on success, rolls back on error and always closes."""
    conn = psycopg2.connect(url or database_url())
    conn.autocommit = autocommit
    try:
        yield conn
        if not autocommit:
            conn.commit()
    except BaseException:
        if not autocommit:
            conn.rollback()
        raise
    finally:
        conn.close()
