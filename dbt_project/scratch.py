"""Databases of their own on the configured server: the evaluation, the demo model's retraining,
dbt-project-evaluator, the benchmarks and the tests each work in one and leave the user's
database alone. A clone copies a prepared database in one statement, which is how the tests
share an expensive setup without sharing its rows."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from contextlib import contextmanager

from psycopg import sql
from psycopg.conninfo import make_conninfo

from dbt_project.database import connect, database_url, one


def in_database(url: str, dbname: str) -> str:
    """The same server, another database."""
    return make_conninfo(url, dbname=dbname)


def create_database(server_url: str, name: str) -> str:
    """A new empty database on the server (an older one of that name is dropped); its URL."""
    drop_database(server_url, name)
    with connect(server_url) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    return in_database(server_url, name)


def drop_database(server_url: str, name: str) -> None:
    with connect(server_url) as conn:
        conn.execute(
            sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
        )


# Per-database role settings (ALTER ROLE ... IN DATABASE ... SET, e.g. the API role's
# search_path) of a database; CREATE DATABASE ... TEMPLATE does not copy them.
_ROLE_SETTINGS = """
select coalesce(r.rolname, ''), unnest(s.setconfig)
from pg_db_role_setting as s
join pg_database as d on d.oid = s.setdatabase
left join pg_roles as r on r.oid = s.setrole
where d.datname = %s
"""


def clone_database(server_url: str, template: str, name: str) -> str:
    """A new database `name` that is a copy of `template` (nobody may be connected to it), its
    per-database role settings included (an older `name` is dropped); its URL."""
    drop_database(server_url, name)
    with connect(server_url) as conn, conn.cursor() as cur:
        cur.execute(
            sql.SQL("create database {} template {}").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        )
        cur.execute(_ROLE_SETTINGS, (template,))
        for role, setting in cur.fetchall():
            variable, value = setting.split("=", 1)
            cur.execute(
                sql.SQL("alter role {} in database {} set {} to {}").format(
                    sql.Identifier(role) if role else sql.SQL("all"),
                    sql.Identifier(name),
                    sql.Identifier(variable),
                    sql.SQL(", ").join(map(sql.Literal, _setting_values(variable, value))),
                )
            )
    return in_database(server_url, name)


# Settings whose value is a list of identifiers (as pg_dump knows them): the catalog keeps
# `search_path=ml, "$user"`, which must be set again as the list 'ml', '$user'.
_LIST_SETTINGS = {
    "search_path", "temp_tablespaces", "local_preload_libraries", "session_preload_libraries",
    "shared_preload_libraries", "unix_socket_directories",
}  # fmt: skip


def _setting_values(variable: str, value: str) -> list[str]:
    if variable.lower() not in _LIST_SETTINGS:
        return [value]
    # identifiers separated by commas, double-quoted where needed ("" inside): CSV's quoting
    return next(csv.reader([value], skipinitialspace=True))


@contextmanager
def scratch_database(
    name: str, server_url: str | None = None, keep: bool = False, reuse: bool = False
) -> Iterator[str]:
    """A new database `name` on `server_url`'s server (default: DATABASE_URL's or the embedded
    one), or with `reuse` the one an earlier run kept; dropped afterwards unless `keep`."""
    server_url = server_url or database_url()
    with connect(server_url) as conn, conn.cursor() as cur:
        cur.execute("select count(*) from pg_database where datname = %s", (name,))
        exists = bool(one(cur)[0])
    url = in_database(server_url, name) if reuse and exists else create_database(server_url, name)
    try:
        yield url
    finally:
        if not keep:
            drop_database(server_url, name)
