"""Run dbt against the configured database with a profile generated from profiles.example.yml."""

from __future__ import annotations

import copy
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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


@contextmanager
def temporary_environment(values: Mapping[str, str]) -> Iterator[None]:
    """This process's environment with `values` set, restored afterwards."""
    saved = dict(os.environ)
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def invoke_in_process(
    args: Sequence[str],
    url: str,
    project_dir: Path,
    manifest: Any = None,
    quiet: bool = True,
    env: Mapping[str, str] | None = None,
    callbacks: Sequence[Callable[[Any], None]] = (),
) -> Any:
    """`dbt <args>` in this process (dbt's dbtRunner), with the same profile, environment and
    one-writer lock as run_dbt; with `manifest`, the project as parsed then, not parsed again;
    `env` on top of this process's environment; `callbacks` receive each event dbt fires.
    Returns dbt's result (its `result` holds the run's per-node timings); raises DbtError when
    dbt fails."""
    from dbt.cli.main import dbtRunner  # seconds to import: only where dbt runs

    write_profile()
    options = ["--project-dir", str(project_dir), *(["--quiet"] if quiet else [])]
    # each context is entered before the next one's expression runs: dbt_environment sees env
    with (
        temporary_environment(env or {}),
        _one_writer(url, args),
        temporary_environment(dbt_environment(url)),
    ):
        done = dbtRunner(manifest=manifest, callbacks=list(callbacks)).invoke([*args, *options])
    if not done.success:
        raise DbtError(f"dbt {' '.join(args)} failed in {project_dir}: {_failure(done)}")
    return done


def _failure(done: Any) -> str:
    """What failed: dbt's exception, or (when nodes failed, which is no exception) each failed
    node with its message."""
    if done.exception is not None:
        return str(done.exception)
    failed = [
        f"{result.node.name}: {(result.message or '').strip()}"
        for result in getattr(done.result, "results", None) or []
        if str(result.status) in ("error", "fail")
    ]
    return "; ".join(failed) or "see dbt's output above"


# What a dbt project is made of: a change to any of these files may change what it computes.
PROJECT_FILES = ("dbt_project.yml", "selectors.yml", "models", "macros", "seeds")


def project_digest(project_dir: Path) -> str:
    """A digest of the project's files, names and contents (a fresh checkout, as a scheduled
    workflow makes, has new modification times but the same digest; about 1 MB, hashed in
    milliseconds)."""
    digest = hashlib.sha256()
    for part in PROJECT_FILES:
        root = project_dir / part
        for path in sorted([root] if root.is_file() else root.rglob("*")):
            if path.is_file():
                digest.update(f"{path.relative_to(project_dir)}\n".encode())
                digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


class InProcessDbt:
    """dbt commands against one database and project run in this process, the project parsed
    once and again whenever its files change (an export writes a version's macros and seeds):
    the same dbt and the same SQL as `dbt <args>`, for many runs in a row (the evaluation's
    replay, `run-often --every`), where starting dbt as a process costs more than a small run
    (measured on two busy cores: 15 s a run, here about 1 s). `vars` (dbt's --vars) go with
    every command: dbt renders them when it parses."""

    def __init__(self, url: str, project_dir: Path, dbt_vars: str | None = None) -> None:
        self.url = url
        self.project_dir = project_dir
        self.vars = ["--vars", dbt_vars] if dbt_vars else []
        self._parsed: tuple[str, Any] | None = None  # (project_digest, manifest)

    def __call__(self, *args: str, quiet: bool = True) -> Any:
        """`dbt <args>`; dbt's result (invoke_in_process)."""
        digest = project_digest(self.project_dir)
        if self._parsed is None or self._parsed[0] != digest:
            parsed = invoke_in_process(["parse", *self.vars], self.url, self.project_dir)
            self._parsed = (digest, parsed.result)
        manifest = _copy(self._parsed[1])
        return invoke_in_process(
            [*args, *self.vars], self.url, self.project_dir, manifest, quiet=quiet
        )


def _copy(manifest: Any) -> Any:
    """A copy of a parsed manifest for one invocation: compiling marks the manifest's ephemeral
    models as inlined, and an invocation reusing that manifest would then not inline them.
    dbt's own deepcopy() fails on the project's selectors (selectors.yml: plain dicts where it
    expects its own objects), so they are copied apart."""
    selectors, manifest.selectors = manifest.selectors, {}
    try:
        copied = manifest.deepcopy()
    finally:
        manifest.selectors = selectors
    copied.selectors = copy.deepcopy(selectors)
    return copied
