"""Run dbt against the configured database with a profile generated from profiles.example.yml."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict

from dbt_project.database import PROJECT_ROOT, connect, database_url
from dbt_project.errors import DbtError
from dbt_project.settings import load_settings

PROFILES_DIR = PROJECT_ROOT / ".dbt"


def dbt_environment(url: str | None = None) -> dict[str, str]:
    """The environment dbt needs: LOGML_PG* from the URL (the password never written to disk),
    and the settings the profile and the project read, as validated here."""
    params = {k: str(v) for k, v in conninfo_to_dict(url or database_url()).items()}
    settings = load_settings()
    env = dict(os.environ)
    env.update(
        LOGML_PGHOST=params.get("host", "localhost"),
        LOGML_PGPORT=params.get("port", "5432"),
        LOGML_PGUSER=params.get("user", os.environ.get("USER", "postgres")),
        LOGML_PGPASSWORD=params.get("password", ""),
        LOGML_PGDATABASE=params.get("dbname", "postgres"),
        LOGML_PGSSLMODE=params.get("sslmode", "prefer"),
        LOGML_SCHEMA=settings.logml_schema,
        LOG_SOURCE_SCHEMA=settings.log_source_schema,
        LOG_SOURCE_TABLE=settings.log_source_table,
        DBT_PROFILES_DIR=str(PROFILES_DIR),
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
    )
    return env


def write_profile() -> None:
    """Copy the example profile into place atomically: concurrent dbt runs read it."""
    PROFILES_DIR.mkdir(exist_ok=True)
    with tempfile.NamedTemporaryFile("wb", dir=PROFILES_DIR, delete=False) as partial:
        partial.write((PROJECT_ROOT / "profiles.example.yml").read_bytes())
    os.replace(partial.name, PROFILES_DIR / "profiles.yml")


# dbt commands that create or replace relations. Two of them at once (a manual build beside the
# scheduled one) would collide swapping the same view or table ("relation already exists").
_WRITING_COMMANDS = {"build", "run", "seed", "snapshot"}


@contextmanager
def _one_writer(url: str, args: Sequence[str]) -> Iterator[None]:
    """Hold a session-level advisory lock while a writing dbt command runs. It lives on a
    connection of its own, so it is released when that closes, even if this process dies."""
    command = next((arg for arg in args if not arg.startswith("-")), None)
    if command not in _WRITING_COMMANDS:
        yield
        return
    with connect(url) as conn:
        conn.execute("select pg_advisory_lock(hashtext('logml.dbt'))")
        yield


def run_dbt(
    args: Sequence[str],
    url: str | None = None,
    check: bool = True,
    project_dir: Path | None = None,
) -> int:
    """Run `dbt <args>` in the project (the repository root unless project_dir says another
    copy of it, as tests do); returns dbt's exit code. Commands that write wait for any other
    writing run against the same database first (see _one_writer)."""
    write_profile()
    url = url or database_url()
    dbt = shutil.which("dbt", path=os.path.dirname(sys.executable)) or "dbt"
    with _one_writer(url, args):
        completed = subprocess.run(
            [dbt, *args], cwd=project_dir or PROJECT_ROOT, env=dbt_environment(url), check=False
        )
    if check and completed.returncode != 0:
        raise DbtError(f"dbt {' '.join(args)} failed with exit code {completed.returncode}")
    return completed.returncode
