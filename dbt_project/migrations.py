"""The schema migrations from Python: every command that touches the database calls
`migrate(conn)` first, which runs the very SQL that dbt runs in on-run-start (the macro
logml_schema_migrations in macros/schema_migrations.sql, rendered here with jinja2)."""

from __future__ import annotations

import re

import psycopg
from psycopg import sql

from dbt_project.macros import render_macro
from dbt_project.redaction import load_redaction
from dbt_project.settings import PROJECT_ROOT, Settings, load_settings
from dbt_project.source import configured

MIGRATIONS = PROJECT_ROOT / "macros" / "schema_migrations.sql"
REDACTION = PROJECT_ROOT / "macros" / "redaction.sql"
TABLE = "logml_schema_migrations"


def latest_version() -> int:
    """The id of the last migration the macro lists: the schema version migrate() reaches."""
    listed = re.findall(r"^\s*\((\d+), '", MIGRATIONS.read_text(encoding="utf-8"), re.MULTILINE)
    return max(int(found) for found in listed)


def migration_script(settings: Settings) -> str:
    """The SQL that brings the output schema up to date (applies only what is missing), for
    the log source the project records, and makes the redaction functions from the rules in
    dbt_project.yml."""
    source = configured(settings=settings)
    return render_macro(
        [REDACTION, MIGRATIONS],
        "logml_schema_migrations",
        settings.logml_schema,
        source.schema,
        source.identity,
        load_redaction(),
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
