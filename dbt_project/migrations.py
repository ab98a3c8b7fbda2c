"""The schema migrations from Python: every command that touches the database calls
`migrate(conn)` first, which runs the very SQL that dbt runs in on-run-start (the macro
logml_schema_migrations in macros/schema_migrations.sql, rendered here with jinja2)."""

from __future__ import annotations

import psycopg
from psycopg import sql

from dbt_project.macros import render_macro
from dbt_project.settings import PROJECT_ROOT, Settings, load_settings

MIGRATIONS = PROJECT_ROOT / "macros" / "schema_migrations.sql"
TABLE = "logml_schema_migrations"


def migration_script(settings: Settings) -> str:
    """The SQL that brings the output schema up to date (applies only what is missing)."""
    return render_macro(
        [MIGRATIONS],
        "logml_schema_migrations",
        settings.logml_schema,
        settings.log_source_schema,
    )


def migrate(conn: psycopg.Connection, settings: Settings | None = None) -> int:
    """Apply the missing migrations in one transaction; returns the schema version."""
    settings = settings or load_settings()
    with conn.transaction():
        conn.execute(migration_script(settings))
    return schema_version(conn, settings)


def schema_version(conn: psycopg.Connection, settings: Settings | None = None) -> int:
    """The highest migration recorded in the output schema (0: none yet)."""
    schema = (settings or load_settings()).logml_schema
    if conn.execute("select to_regclass(%s)", (f"{schema}.{TABLE}",)).fetchone() == (None,):
        return 0
    found = conn.execute(sql.SQL("select max(id) from {}").format(sql.Identifier(schema, TABLE)))
    return int((found.fetchone() or (0,))[0] or 0)
