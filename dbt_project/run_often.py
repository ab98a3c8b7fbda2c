"""The frequent run (`make run-often`): new log lines become predictions, counts, incidents and
alerts with the models of the dbt selector `run_often` (selectors.yml), without the tests, dbt
in this process; seeds only when the database lacks one (a version exported or merged since the
last full build). The full `dbt build` with every test stays on its 6-hour
schedule (docs/reference/schedules.md).

Every model it runs is a function of the log source, the registry and the labels, so when none
of those (nor the project, nor ml_predictions) changed since its last successful run it does not
start dbt at all: it records what it read in target/run_often_inputs.json after each success,
and compares first (a few index probes).

`run-often --every SECONDS` (run_every) stays up and runs it on that period in one process: dbt
is imported and the project parsed once (again when its files change), which a process started
by cron pays on every run."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from psycopg import sql

from dbt_project.database import connect, output_table
from dbt_project.dbt_runner import InProcessDbt, project_digest
from dbt_project.errors import DbtError
from dbt_project.settings import load_settings
from dbt_project.source import configured

SELECTOR = "run_often"
# The models of the 6-hour build that the selection reads (selectors.yml says why they stay
# there), and the selector that adds them, run instead when the database lacks one of them (no
# full build has made it yet).
FROM_THE_FULL_BUILD = ("ml_drift",)
SELECTOR_WITH_THEM = "run_often_with_drift"
STATE = Path("target") / "run_often_inputs.json"
# The sources besides the logs (models/staging/*/_*__sources.yml): small tables that commands
# write, compared whole. tests/python/integration/test_run_often.py checks the list.
SMALL_SOURCES = ("ml_model_registry", "ml_model_deployments", "ml_template_labels")
# dbt work that nothing here needs, skipped every 5 minutes: the relation cache's catalog query
# (each model looks up its own relation instead), the version check, and the JSON artifacts
# (manifest.json alone is over a megabyte). Their saving was within the machine's noise when
# measured.
DBT_OPTIONS = ("--no-populate-cache", "--no-version-check", "--no-write-json")

# Two probes of the source's id index, read directly: through the view stg_log_entries
# PostgreSQL scans the whole index for them (measured: 63 ms at 100,000 logs against 0.2 ms).
_LOGS = """
select (select min({id}) from {source})::text || '..' || (select max({id}) from {source})::text
"""
_TABLE = "select md5(coalesce(string_agg(t::text, '|' order by t::text), '')) from {} as t"
_PREDICTIONS = "select max(predicted_at)::text from {}"


def _query(conn: psycopg.Connection, statement: sql.Composed) -> str | None:
    row = conn.execute(statement).fetchone()
    return None if row is None or row[0] is None else str(row[0])


def _predictions(conn: psycopg.Connection) -> str | None:
    return _query(conn, sql.SQL(_PREDICTIONS).format(output_table("ml_predictions")))


def seed_names(project_dir: Path) -> list[str]:
    """The project's seeds (seeds/**/*.csv)."""
    return sorted(path.stem for path in (project_dir / "seeds").rglob("*.csv"))


def missing_tables(url: str, names: Sequence[str]) -> list[str]:
    """Those of `names` that the output schema does not hold."""
    with connect(url) as conn:
        found = conn.execute(
            "select name from unnest(%s::text[]) as name"
            " where to_regclass(quote_ident(%s) || '.' || quote_ident(name)) is null",
            (list(names), load_settings().logml_schema),
        )
        return [name for (name,) in found]


def read_inputs(url: str, project_dir: Path, dbt_args: Sequence[str]) -> dict[str, str | None]:
    """What the selection reads, as of now; {} when the database has no pipeline yet."""
    source = configured(project_dir)
    with connect(url) as conn:
        try:
            inputs = {
                "database": f"{conn.info.host}:{conn.info.port}/{conn.info.dbname}",
                "logs": _query(
                    conn,
                    sql.SQL(_LOGS).format(
                        id=sql.Identifier(str(source.column("id"))), source=source.relation
                    ),
                ),
                **{
                    name: _query(conn, sql.SQL(_TABLE).format(output_table(name)))
                    for name in SMALL_SOURCES
                },
                "predictions": _predictions(conn),
            }
        except psycopg.errors.UndefinedTable:
            return {}
    return {**inputs, "project": project_digest(project_dir), "dbt_args": " ".join(dbt_args)}


def run_often(dbt: InProcessDbt, force: bool = False) -> str:
    """Run the selection with `dbt` (its database, project and vars) unless nothing it reads
    changed since the last successful run (or force); returns what it did, in one line. dbt
    prints its own progress."""
    url, project_dir = dbt.url, dbt.project_dir
    state = project_dir / STATE
    before = read_inputs(url, project_dir, dbt.vars)
    if not force and before and state.is_file() and json.loads(state.read_text()) == before:
        return "nothing new since the last run: no new log lines, no change of version or label"
    state.unlink(missing_ok=True)
    missing = missing_tables(url, [*seed_names(project_dir), *FROM_THE_FULL_BUILD])
    if seeds := [name for name in missing if name not in FROM_THE_FULL_BUILD]:
        dbt("seed", "--select", *seeds, *DBT_OPTIONS)
    lacks_them = any(name in FROM_THE_FULL_BUILD for name in missing)
    selector = SELECTOR_WITH_THEM if lacks_them else SELECTOR
    done = dbt("run", "--selector", selector, *DBT_OPTIONS, quiet=False)
    if before:
        # what this run read, and the predictions it left: lines that arrived during the run
        # differ from `before`, so the next run reads them
        with connect(url) as conn:
            after = {**before, "predictions": _predictions(conn)}
        state.parent.mkdir(exist_ok=True)
        state.write_text(json.dumps(after, indent=1) + "\n")
    slowest = sorted(done.result.results, key=lambda r: -r.execution_time)[:3]
    return f"ran {len(done.result.results)} dbt nodes in {done.result.elapsed_time:.1f} s" + (
        " (slowest: " + ", ".join(f"{r.node.name} {r.execution_time:.1f} s" for r in slowest) + ")"
    )


def run_every(
    dbt: InProcessDbt,
    seconds: float,
    runs: int | None = None,
    after: Callable[[], object] | None = None,
) -> None:
    """run_often every `seconds` (from the start of one run to the start of the next; a run
    that takes longer is followed at once), `runs` times or until interrupted; `after` each
    successful run (the alerts' delivery, as `make run-often && python -m alerts notify` in
    cron). A run that fails (the database unreachable, a model's error) is reported with a
    timestamp and the next one tries again, as the next cron run would."""
    done = 0
    while runs is None or done < runs:
        started = time.monotonic()
        try:
            line = run_often(dbt)
        except (DbtError, psycopg.OperationalError) as error:
            line = f"failed: {error}"
        else:
            if after is not None:
                after()
        print(f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ} {line}", flush=True)
        done += 1
        if runs is None or done < runs:
            time.sleep(max(0.0, seconds - (time.monotonic() - started)))
