"""The real pipeline, the way a user runs it (the same CLIs, the real dbt), in a private copy of
the dbt project; and the counts that prove "nothing lost": every eligible log (a row of
stg_log_entries) has exactly one prediction of the active model version, and no prediction
names a log that is not there."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from psycopg import sql

from dbt_project.database import PROJECT_ROOT, connect, job_connection, one, output_table
from dbt_project.dbt_runner import (
    dbt_environment,
    invoke_in_process,
    temporary_environment,
    write_profile,
)
from dbt_project.errors import DbtError
from dbt_project.project_copy import copy_project
from ingest.cli import main as ingest_main
from ingest.session import EntrySource, LoadReport, load_entries
from ingest.source_table import create_source_table
from model_export.cli import main as model_export_main
from model_export.compiler.names import MACRO_DIR, SEED_DIR
from model_export.lifecycle import versions

# The loghub samples (read from ../shared, never copied into the repository).
LOGHUB = Path(os.environ.get("LOGHUB_DIR", PROJECT_ROOT.parent / "shared" / "data" / "loghub"))
# A fixed window end keeps the generated rows (and so the trained models) reproducible.
END = "2026-11-20T12:00:00+00:00"
# What a test's dbt writes besides its work: dbt.log at info, not debug (about 0.7 MB a build),
# and no JSON artifacts (manifest.json is written twice a build). They cost about 1.5 s of an
# 8 s build (measured: median of 6 alternating builds of a 3,000-log project, 8.04 s against
# 6.54 s). Users' runs keep dbt's defaults; a test that reads them asks (artifacts=True).
LEAN_DBT = {"DBT_LOG_LEVEL_FILE": "info", "DBT_WRITE_JSON": "false"}
DBT_DEFAULTS = {"DBT_LOG_LEVEL_FILE": "debug", "DBT_WRITE_JSON": "true"}


def _dbt_writes(artifacts: bool) -> dict[str, str]:
    return DBT_DEFAULTS if artifacts else LEAN_DBT


def project_copy(target: Path) -> Path:
    """A copy of the dbt project in `target` without any compiled model version (tests and
    benchmarks train their own on their own logs, and never touch the repository's generated
    files or target/)."""
    copy_project(target)
    for generated in (MACRO_DIR, SEED_DIR):
        shutil.rmtree(target / generated)
        (target / generated).mkdir()
    # no compiled version: the dispatcher says so, and the project still parses
    (target / versions.LISTING).write_text(versions.listing_file([]))
    return target


def repository_copy(target: Path) -> Path:
    """The files git tracks in this working tree, as they are (uncommitted changes included),
    copied to `target`: what a fresh clone of this state holds."""
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=PROJECT_ROOT, capture_output=True, check=True
    ).stdout.decode()
    for name in filter(None, tracked.split("\0")):
        source = PROJECT_ROOT / name
        if source.is_file():  # a file deleted in the working tree is not part of it
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def create_source(url: str) -> None:
    """The source table, as `python -m ingest create-source` creates it (in this process)."""
    with job_connection(url) as conn:
        create_source_table(conn)


def load_sources(url: str, sources: Sequence[EntrySource], command: str = "test") -> LoadReport:
    """ingest's load of `sources` (parsed files) into `url`'s source table, in this process."""
    with job_connection(url) as conn:
        return load_entries(conn, sources, command)


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


def in_process(
    main: Callable[[list[str]], int],
    url: str,
    argv: Sequence[str],
    env: Mapping[str, str] | None = None,
    artifacts: bool = False,
) -> str:
    """A command line's `main(argv)` in this process against `url` (DATABASE_URL), as
    `python -m` runs it but without a process start: returns stdout+stderr, fails the test on
    a non-zero exit. For the commands a test run calls dozens of times, each process of which
    would spend seconds importing scikit-learn before any work. A dbt it runs writes its files
    as dbt(..., artifacts) does."""
    out, err = io.StringIO(), io.StringIO()
    with (
        temporary_environment({**_dbt_writes(artifacts), **(env or {}), "DATABASE_URL": url}),
        redirect_stdout(out),
        redirect_stderr(err),
    ):
        try:
            code = main(list(argv))
        except SystemExit as exit_:  # argparse's refusals; sys.exit(None) is success
            code = exit_.code if isinstance(exit_.code, int) else int(exit_.code is not None)
    output = out.getvalue() + err.getvalue()
    assert code == 0, f"{list(argv)} failed:\n{output}"
    return output


def load_generated(
    url: str, rows: int, seed: int, end: str = END, days: float | None = None
) -> str:
    """`python -m ingest generate` (in this process): `rows` logs over the `days` (default 7)
    before `end`."""
    options = ["--rows", str(rows), "--seed", str(seed), "--end", end]
    if days is not None:
        options += ["--days", str(days)]
    return in_process(ingest_main, url, ["generate", *options])


def start_dbt(
    project: Path,
    url: str,
    *args: str,
    target: str = "target",
    env: Mapping[str, str] | None = None,
    runner: bool = False,
) -> subprocess.Popen[str]:
    """`dbt <args>` in the background, in its own session (so a kill reaches only it), output
    captured. With runner, through `python -m dbt_project dbt` as users run it (which
    serialises writing commands); otherwise the dbt executable itself."""
    write_profile()
    if runner:
        command = [sys.executable, "-m", "dbt_project", "dbt", *args, "--project-dir", str(project)]
    else:
        command = [shutil.which("dbt", path=os.path.dirname(sys.executable)) or "dbt", *args]
    return subprocess.Popen(
        [*command, "--target-path", target],
        cwd=PROJECT_ROOT if runner else project,
        env={**dbt_environment(url), **(env or {}), "DATABASE_URL": url},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def dbt(
    project: Path,
    url: str,
    *args: str,
    env: Mapping[str, str] | None = None,
    unit_tests: bool = False,
    artifacts: bool = False,
) -> str:
    """`dbt <args>`, which must succeed; returns its log lines. It runs in this process (dbt's
    dbtRunner: the same dbt and the same SQL as the executable) because a test run calls it
    about a hundred times, and each process would spend 2-3 s importing dbt before any work.
    Tests of the process itself (a kill, two runs at once) use start_dbt.

    A `build` leaves out dbt's unit tests unless unit_tests: they check the models' SQL on
    fixed rows, the same in every build, and cost a quarter of a small build; the suite runs
    them once (test_dbt_pipeline.py). With artifacts, dbt writes its debug log and JSON
    artifacts (run_results.json, manifest.json) as users' runs do (see LEAN_DBT)."""
    if args[:1] == ("build",) and not unit_tests:
        args = (*args, "--exclude-resource-type", "unit_test")
    lines: list[str] = []

    def keep(event: Any) -> None:
        if event.info.level in ("info", "warn", "error"):
            lines.append(event.info.msg)

    try:
        invoke_in_process(
            args,
            url,
            project,
            env={**_dbt_writes(artifacts), **(env or {}), "DATABASE_URL": url},
            callbacks=[keep],
        )
    except DbtError as failed:
        raise AssertionError(f"dbt {args} failed: {failed}\n" + "\n".join(lines[-80:])) from None
    return "\n".join(lines)


def _scoring_results(project: Path, target: str = "target") -> list[dict[str, Any]]:
    """ml_predictions' entries in the last run's run_results.json in `target` (a run of
    dbt(..., artifacts=True) or start_dbt)."""
    results = json.loads((project / target / "run_results.json").read_text())["results"]
    return [r for r in results if r["unique_id"] == "model.logml.ml_predictions"]


def rows_scored(project: Path, target: str = "target") -> int:
    """Rows ml_predictions inserted in the last run into `target`; 0 when the run failed
    before it got there."""
    return sum(
        int(r["adapter_response"].get("rows_affected", 0))
        for r in _scoring_results(project, target)
        if r["status"] == "success"
    )


def scoring_step(project: Path) -> tuple[float, int]:
    """(execution_time in s, rows_affected) of ml_predictions in the last run into target/."""
    (step,) = _scoring_results(project)
    return float(step["execution_time"]), int(step["adapter_response"]["rows_affected"])


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


def model_export(
    url: str,
    project: Path,
    command: str,
    *options: str,
    env: Mapping[str, str] | None = None,
    artifacts: bool = False,
) -> str:
    """`python -m model_export <command>` on this database and project copy, in this process
    (in_process); tests of the command line itself run it as a process (cli)."""
    argv = [command, *model_export_args(url, project), *options]
    return in_process(model_export_main, url, argv, env, artifacts)


def export(
    url: str,
    project: Path,
    *options: str,
    env: Mapping[str, str] | None = None,
    artifacts: bool = False,
) -> str:
    """`model_export export` into the project copy (options: e.g. --challenger)."""
    return model_export(url, project, "export", *options, env=env, artifacts=artifacts)


def build(
    url: str,
    project: Path,
    rows: int,
    seed: int,
    env: Mapping[str, str] | None = None,
    artifacts: bool = False,
) -> list[str]:
    """create-source -> load -> model_export export -> dbt build, in a project copy
    (project_copy); the outputs. (The export builds stg_log_entries itself; nothing else can
    run before a version is compiled.)"""
    create_source(url)
    outputs = [load_generated(url, rows, seed)]
    outputs.append(export(url, project, env=env, artifacts=artifacts))
    outputs.append(dbt(project, url, "build", env=env, artifacts=artifacts))
    return outputs


# Generated windows of later loads end here (END is the first load's end): newer logs.
CHALLENGER_LOGS_END = "2026-11-21T12:00:00+00:00"


def add_challenger(url: str, project: Path) -> None:
    """Export v2 as the challenger, then load new logs and run dbt: both versions score them."""
    export(url, project, "--challenger", "--limit", "300")
    # two days of logs: the generator spreads its incidents over the window, so the newest
    # hours (the dashboard's hourly chart) have some
    load_generated(url, 1500, seed=8, end=CHALLENGER_LOGS_END, days=2)
    dbt(project, url, "build")


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


# In the output schema (LOGML_SCHEMA) of this process's environment.
COVERAGE = """
with active as (
    select model_version from {registry} where is_active
    group by model_version
),
scored as (
    select p.log_entry_id from {predictions} as p
    where p.model_version = (select model_version from active)
)
select
    (select model_version from active),
    (select count(*) from {stg}),
    (select count(*) from scored),
    (select count(distinct log_entry_id) from scored),
    (select count(*) from {stg} as s
     where not exists (select 1 from scored where scored.log_entry_id = s.log_entry_id)),
    (select count(*) from scored
     where not exists (select 1 from {stg} as s
                       where s.log_entry_id = scored.log_entry_id))
"""


def coverage(url: str) -> Coverage:
    statement = sql.SQL(COVERAGE).format(
        registry=output_table("ml_model_registry"),
        predictions=output_table("ml_predictions"),
        stg=output_table("stg_log_entries"),
    )
    with connect(url) as conn:
        version, *counts = one(conn.execute(statement))
    return Coverage(str(version), *counts)
