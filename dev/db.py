"""Databases and servers for tests and benchmarks: queries for expected values, other roles, a
PostgreSQL of a test's own (faults stop it; the shared embedded one never stops), and polling.
Databases of their own on the shared server: dbt_project.scratch."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import dict_row

from api.database import READ_ONLY_USER
from dbt_project.database import PROJECT_ROOT, connect, stop_embedded

T = TypeVar("T")


def fetch_all(url: str, statement: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
    """Every row of a query, as tuples (without params, a % in the SQL is a plain character;
    of a script of several statements, the rows of the last one)."""
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute(statement, params or None)
        while cur.nextset():
            pass
        return cur.fetchall()


def scalar(url: str, statement: str, params: tuple[object, ...] = ()) -> Any:
    """The first column of the first row (None without a row)."""
    found = fetch_all(url, statement, params)
    return found[0][0] if found else None


def records(url: str, statement: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Rows as dicts, read in UTC, so that values compare with what the API serves."""
    with psycopg.connect(url, row_factory=dict_row, options="-c TimeZone=UTC") as conn:
        return conn.execute(statement, params).fetchall()  # type: ignore[arg-type]


def checksum(url: str, table: str, where: str = "true") -> str:
    """md5 over every column of every row, in a fixed order: any changed value changes it."""
    statement = (
        f"select md5(string_agg(t::text, '|' order by t::text)) from {table} t where {where}"
    )
    return str(scalar(url, statement))


def with_user(url: str, user: str, password: str | None = None) -> str:
    """The same database as another role (without a password unless given)."""
    params = conninfo_to_dict(url)
    params["user"] = user
    params.pop("password", None)
    if password is not None:
        params["password"] = password
    return make_conninfo("", **params)


def as_reader(url: str) -> str:
    """The same database as the API's read-only role (dbt build creates it)."""
    return with_user(url, READ_ONLY_USER)


def wait_for(predicate: Callable[[], T], seconds: float, what: str, step: float = 0.05) -> T:
    """Poll `predicate` until it returns a truthy value; fail after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {seconds} s waiting for {what}")


def start_server(data_dir: Path, settings: dict[str, str] | None = None) -> str:
    """Start (or restart) an embedded PostgreSQL of our own in a fresh process (pgserver caches
    the servers it started per process, so a restart in this process would reuse a dead
    handle) and apply `settings` (ALTER SYSTEM + reload). The URL (a socket in the data
    directory) is the same after every restart."""
    code = "import sys; from pathlib import Path; from dbt_project.database import start_embedded"
    code += "; print(start_embedded(Path(sys.argv[1])))"
    done = subprocess.run(
        [sys.executable, "-c", code, str(data_dir)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    url = done.stdout.strip().splitlines()[-1]
    if settings:
        with connect(url) as conn:
            for name, value in settings.items():
                statement = sql.SQL("alter system set {} = {}")
                conn.execute(statement.format(sql.Identifier(name), sql.Literal(value)))
            conn.execute("select pg_reload_conf()")
    return url


def stop_server(data_dir: Path) -> None:
    assert stop_embedded(data_dir), f"no server was running in {data_dir}"


@contextmanager
def server_dir() -> Iterator[Path]:
    """A data directory for our own server, outside pytest's tmp dir: as root, the server runs
    as user pgserver, who cannot enter the owner-only /tmp/pytest-of-root (pg_ctl would fail)."""
    parent = Path(tempfile.mkdtemp(prefix="logml-server-"))
    parent.chmod(0o755)
    try:
        yield parent / "pgdata"
    finally:
        shutil.rmtree(parent, ignore_errors=True)


@contextmanager
def own_server(settings: dict[str, str] | None = None) -> Iterator[tuple[str, Path]]:
    """(URL, data directory) of a new embedded PostgreSQL of our own, removed afterwards."""
    with server_dir() as data_dir:
        url = start_server(data_dir, settings)
        try:
            yield url, data_dir
        finally:
            stop_embedded(data_dir)
