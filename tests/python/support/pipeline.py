"""The real pipeline for the reliability tests, and the counts that prove "nothing lost":
every eligible log (a row of stg_log_entries) has exactly one prediction of the active model
version, and no prediction names a log that is not there."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg2.extensions

from dbt_project.database import PROJECT_ROOT, connect, stop_embedded
from dbt_project.dbt_runner import dbt_environment, write_profile
from dbt_project.source_table import create_source_table

# A fixed window end keeps the generated rows (and so the trained models) reproducible.
END = "2026-11-20T12:00:00+00:00"
SCORING_LOCK = "logml.ml_predictions"  # macros/scoring_hooks.sql serialize_runs


def run_module(
    url: str, *args: str, env: Mapping[str, str] | None = None, check: bool = False
) -> subprocess.CompletedProcess[str]:
    """`python -m <args>` against `url` (DATABASE_URL) from the repository root, output
    captured; with check, a non-zero exit fails the test with the output."""
    done = subprocess.run(
        [sys.executable, "-m", *args],
        cwd=PROJECT_ROOT,
        env={**os.environ, **(env or {}), "DATABASE_URL": url},
        capture_output=True,
        text=True,
        check=False,
    )
    assert not check or done.returncode == 0, f"{args} failed:\n{done.stdout + done.stderr}"
    return done


def cli(url: str, *args: str, env: Mapping[str, str] | None = None) -> str:
    """`python -m <args>` against `url`; returns stdout+stderr, fails the test on an error."""
    done = run_module(url, *args, env=env, check=True)
    return done.stdout + done.stderr


def load_generated(url: str, rows: int, seed: int, end: str = END) -> str:
    return cli(
        url,
        "dbt_project",
        "load",
        "generate",
        "--rows",
        str(rows),
        "--seed",
        str(seed),
        "--end",
        end,
    )


def dbt_command(project: Path, *args: str, target: str = "target") -> list[str]:
    dbt = shutil.which("dbt", path=os.path.dirname(sys.executable)) or "dbt"
    return [dbt, *args, "--target-path", target]


def start_dbt(
    project: Path,
    url: str,
    *args: str,
    target: str = "target",
    env: Mapping[str, str] | None = None,
) -> subprocess.Popen[str]:
    """`dbt <args>` in the background (its own session, so a kill reaches only it)."""
    write_profile()
    return subprocess.Popen(
        dbt_command(project, *args, target=target),
        cwd=project,
        env={**dbt_environment(url), **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def dbt(project: Path, url: str, *args: str, env: Mapping[str, str] | None = None) -> str:
    """`dbt <args>`, which must succeed; returns its output."""
    run = start_dbt(project, url, *args, env=env)
    output, _ = run.communicate(timeout=600)
    assert run.returncode == 0, f"dbt {args} failed:\n{output[-4000:]}"
    return output


def build(
    url: str, project: Path, rows: int, seed: int, env: Mapping[str, str] | None = None
) -> list[str]:
    """create-source -> load -> model_export export -> dbt build, in a project copy without
    an export (fixture dbt_project_copy); the outputs. (The export builds stg_log_entries
    itself; nothing else can run before a version is compiled.)"""
    create_source_table(url)
    outputs = [load_generated(url, rows, seed)]
    outputs.append(export(url, project, env=env))
    outputs.append(dbt(project, url, "build", env=env))
    return outputs


def model_export_args(url: str, project: Path) -> tuple[str, ...]:
    """The options that point a model_export command at a database and a project copy (its
    artifacts live inside the copy)."""
    return (
        "--url",
        url,
        "--project-dir",
        str(project),
        "--artifacts-dir",
        str(project / "artifacts"),
    )


def export(url: str, project: Path, *options: str, env: Mapping[str, str] | None = None) -> str:
    """`model_export export` into the project copy (options: e.g. --challenger)."""
    return cli(url, "model_export", "export", *model_export_args(url, project), *options, env=env)


def scalar(url: str, query: str, params: tuple[object, ...] = ()) -> Any:
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute(query, params)
        row = cur.fetchone()
        return None if row is None else row[0]


@dataclass(frozen=True)
class Coverage:
    """Counts over stg_log_entries and ml_predictions for the active model version."""

    version: str
    eligible_logs: int  # rows of stg_log_entries
    predictions: int  # rows of ml_predictions for the version
    distinct_logs: int  # distinct log_entry_id among them
    unscored_logs: int  # eligible logs without a prediction of the version
    orphans: int  # predictions of the version whose log is not in stg

    @property
    def exact(self) -> bool:
        return (
            self.eligible_logs == self.predictions == self.distinct_logs
            and self.unscored_logs == 0
            and self.orphans == 0
        )


COVERAGE = """
with active as (
    select model_version from ml.ml_model_registry where is_active
    group by model_version
),
scored as (
    select p.log_entry_id from ml.ml_predictions as p
    where p.model_version = (select model_version from active)
)
select
    (select model_version from active),
    (select count(*) from ml.stg_log_entries),
    (select count(*) from scored),
    (select count(distinct log_entry_id) from scored),
    (select count(*) from ml.stg_log_entries as s
     where not exists (select 1 from scored where scored.log_entry_id = s.log_entry_id)),
    (select count(*) from scored
     where not exists (select 1 from ml.stg_log_entries as s
                       where s.log_entry_id = scored.log_entry_id))
"""


def coverage(url: str) -> Coverage:
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute(COVERAGE)
        version, *counts = cur.fetchone()
    return Coverage(str(version), *counts)


def wait_for(predicate: Any, seconds: float, what: str, step: float = 0.05) -> Any:
    """Poll `predicate` until it returns a truthy value; fail after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {seconds} s waiting for {what}")


def start_server(data_dir: Path) -> str:
    """Start (or restart) our own embedded PostgreSQL in a fresh process: pgserver caches the
    servers it started per process, so a restart in this process would reuse a dead handle.
    The URL (a socket in the data directory) is the same after every restart."""
    code = "import sys; from pathlib import Path; from dbt_project.database import start_embedded"
    code += "; print(start_embedded(Path(sys.argv[1])))"
    done = subprocess.run(
        [sys.executable, "-c", code, str(data_dir)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1]


def stop_server(data_dir: Path) -> None:
    assert stop_embedded(data_dir), f"no server was running in {data_dir}"


@contextmanager
def server_dir() -> Iterator[Path]:
    """A data directory for our own server, outside pytest's tmp dir: as root, the server runs
    as user pgserver, who cannot enter the owner-only /tmp/pytest-of-root (pg_ctl would fail)."""
    parent = Path(tempfile.mkdtemp(prefix="logml-reliability-"))
    parent.chmod(0o755)
    try:
        yield parent / "pgdata"
    finally:
        shutil.rmtree(parent, ignore_errors=True)


@contextmanager
def own_server(data_dir: Path) -> Iterator[str]:
    """A second embedded PostgreSQL of our own (faults stop it; the shared one never stops)."""
    url = start_server(data_dir)
    try:
        yield url
    finally:
        stop_embedded(data_dir)


def with_user(url: str, user: str, password: str | None = None) -> str:
    params = psycopg2.extensions.parse_dsn(url)
    params["user"] = user
    params.pop("password", None)
    if password is not None:
        params["password"] = password
    return psycopg2.extensions.make_dsn(**params)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Api:
    """`python -m api` in a subprocess; its output goes to a file (a pipe nobody reads would
    fill up with access-log lines and block the server)."""

    process: subprocess.Popen[bytes]
    base: str
    log: Path

    def stop(self) -> str:
        """Stop the server; its whole output."""
        self.process.terminate()
        self.process.wait(timeout=30)
        output = self.log.read_text(errors="replace")
        self.log.unlink()
        return output


def start_api(database_url: str, env: Mapping[str, str] | None = None) -> Api:
    """`python -m api` on a free loopback port, reading `database_url`."""
    port = free_port()
    log = Path(tempfile.mkstemp(prefix="logml-api-", suffix=".log")[1])
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "api"],
            cwd=PROJECT_ROOT,
            env={
                **os.environ,
                "API_DATABASE_URL": database_url,
                "API_HOST": "127.0.0.1",
                "API_PORT": str(port),
                **(env or {}),
            },
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    api = Api(process, f"http://127.0.0.1:{port}", log)
    try:
        wait_for(lambda: get(api.base, "/api/v1/openapi.json")[0] == 200, 60, "the API", 0.2)
    except AssertionError:
        raise AssertionError(api.stop()) from None
    return api


def get(
    base: str, path: str, headers: Mapping[str, str] | None = None, method: str = "GET"
) -> tuple[int, bytes, dict[str, str]]:
    """(status, body, lower-cased headers); (0, b"", {}) when nothing answers."""
    request = urllib.request.Request(base + path, headers=dict(headers or {}), method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read(), _lower(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read(), _lower(error.headers)
    except OSError:
        return 0, b"", {}


def _lower(headers: Any) -> dict[str, str]:
    return {key.lower(): value for key, value in headers.items()}
