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

from dbt_project.database import PROJECT_ROOT, connect, connection_params, database_url

PROFILES_DIR = PROJECT_ROOT / ".dbt"
# What a working copy of the dbt project is made of (tests and benchmarks run dbt in copies so
# they never touch the repository's generated files or target/).
PROJECT_PARTS = (
    "dbt_project.yml", "profiles.example.yml", "models", "macros", "seeds", "analyses", "tests/dbt",
)  # fmt: skip
# Where model_export writes the compiled models (macros) and their lookup tables (seeds).
GENERATED_DIRS = (Path("macros/generated"), Path("seeds/generated"))


def dbt_environment(url: str | None = None) -> dict[str, str]:
    """The environment dbt needs: LOGML_PG* from the URL, the password never written to disk."""
    params = connection_params(url or database_url())
    env = dict(os.environ)
    env.update(
        LOGML_PGHOST=params.get("host", "localhost"),
        LOGML_PGPORT=params.get("port", "5432"),
        LOGML_PGUSER=params.get("user", os.environ.get("USER", "postgres")),
        LOGML_PGPASSWORD=params.get("password", ""),
        LOGML_PGDATABASE=params.get("dbname", "postgres"),
        LOGML_PGSSLMODE=params.get("sslmode", "prefer"),
        DBT_PROFILES_DIR=str(PROFILES_DIR),
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
    )
    return env


def copy_project(target: Path, *, with_export: bool = True) -> Path:
    """Copy the dbt project to `target`. Without the export, the copy has no compiled model
    version, for a database that gets models trained on its own logs."""
    target.mkdir(parents=True, exist_ok=True)
    for part in PROJECT_PARTS:
        source = PROJECT_ROOT / part
        if source.is_dir():
            shutil.copytree(source, target / part)
        else:
            shutil.copyfile(source, target / part)
    if not with_export:
        from model_export.generate import dispatcher_file  # the compiler's; imports this module

        for generated in GENERATED_DIRS:
            shutil.rmtree(target / generated)
            (target / generated).mkdir()
        # no compiled version: the dispatcher says so, and the project still parses
        (target / GENERATED_DIRS[0] / "ml_versions.sql").write_text(dispatcher_file([]))
    return target


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
    with connect(url, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("select pg_advisory_lock(hashtext('logml.dbt'))")
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
        raise SystemExit(f"dbt {' '.join(args)} failed with exit code {completed.returncode}")
    return completed.returncode
