"""Replaying logs through the product as the shipped schedule runs it (issue 21, item 4): the
real export, the real dbt on PostgreSQL, 6 hours of log time per run, and what the product
raised read after every run. For the evaluation, tests and benchmarks alike:

    replay = Replay(conn, project_dir)  # a database holding the logs; a copy of the project
    truth = replay.hide_labels()        # is_anomaly / anomaly_type cleared, returned
    replay.hold_back(cutoff)            # lines logged from cutoff on leave the log source
    replay.train(seed)                  # python -m model_export export, then the first dbt run
    for run in replay.runs():           # each run's lines arrive, dbt runs, new rows are read
        run.raised                      # the rows of PRODUCT_TABLES new in that run
    replay.line_flags(table)            # the lines that table's answer flags

The held-back lines wait in schema logml_replay, which the product never reads, and move into
the log source (with their ids) when their run comes: the source holds what had arrived by
then. A run without new lines is skipped: every model is a function of the logs that arrived,
so dbt would add no row there.

dbt runs in this process, the project parsed once per export (dbt_runner.InProcessDbt). SCHEDULE is
`dbt build` after every run, as the shipped workflow runs it; FAST (the default) gives the
same rows in less time: no tests (they read rows, they write none), the seeds loaded once after
the export, and the models of the selector run_often_with_drift (selectors.yml: what `make
run-often` runs, every model but the report tables, which nothing that raises is built from,
and ml_drift, which the 6-hour build refreshes for the drift alerts); measured
on two busy cores, a run of 8,000 generated lines took 15 s against 45 s with dbt build in a
process of its own. tests/python/integration/test_replay.py replays the same logs both ways
and compares the rows.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import psycopg
from psycopg import sql

from dbt_project.database import PROJECT_ROOT, output_table, source_table, url_of
from dbt_project.dbt_runner import InProcessDbt
from dbt_project.errors import LogmlError
from dbt_project.project_copy import copy_project
from dbt_project.run_often import SELECTOR_WITH_THEM
from model_export.evaluation.incidents import Raised, run_of
from model_export.training.anomaly_detectors import RUN_SECONDS

SCHEMA = "logml_replay"
RUN = pd.Timedelta(seconds=RUN_SECONDS)


class ReplayError(LogmlError):
    """The replay cannot go on (the message says why)."""


@dataclass(frozen=True)
class Selection:
    """The dbt commands of the first run after the export, and of every later run."""

    name: str
    deploy: tuple[tuple[str, ...], ...]
    run: tuple[tuple[str, ...], ...]


SCHEDULE = Selection("dbt build", (("build",),), (("build",),))
# --no-write-json: no manifest.json and run_results.json each run (nothing here reads them)
_MODELS = ("run", "--selector", SELECTOR_WITH_THEM, "--no-write-json")
FAST = Selection(f"dbt run --selector {SELECTOR_WITH_THEM}", (("seed",), _MODELS), (_MODELS,))


@dataclass(frozen=True)
class ProductTable:
    """A table of the output schema whose rows the product raises, and the table of the lines
    its answer flags (`flagged` selects their ids from it, given the version). `columns` name
    (key, kind, service, window start, window end) per row. A key first read after a run was
    raised by that run; a row read again keeps that run and takes its newest window (an
    incident that grows)."""

    name: str
    columns: tuple[str, str, str, str, str]
    line_table: str
    flagged: str

    def query(self) -> sql.Composed:
        return sql.SQL("select {} from {}").format(
            sql.SQL(", ").join(map(sql.Identifier, self.columns)), output_table(self.name)
        )


# Read where the project builds them: a project without the incidents mart (ml_incidents) is
# judged by its alerts alone. An alert's lines are the line flags of ml_predictions (the rare
# lines, as before incidents); an incident's are the lines of ml_incident_lines, the lines the
# API serves as the incident's (docs/concepts/incidents.md).
PRODUCT_TABLES = (
    ProductTable(
        "ml_alerts",
        ("alert_key", "alert_kind", "service", "window_start", "window_end"),
        "ml_predictions",
        "select log_entry_id from {} where model_version = %s and is_anomaly",
    ),
    ProductTable(
        "ml_incidents",
        ("incident_id", "severity", "service", "started_at", "last_seen_at"),
        "ml_incident_lines",
        "select distinct log_entry_id from {} where model_version = %s",
    ),
)


def product_table(name: str) -> ProductTable:
    """The PRODUCT_TABLES entry of that name."""
    return next(table for table in PRODUCT_TABLES if table.name == name)


@dataclass(frozen=True)
class Run:
    index: int  # the scheduled run: 6 hours of log time since the epoch
    lines: int  # lines that arrived in it
    raised: list[Raised]  # rows of PRODUCT_TABLES new in it
    seconds: float  # dbt's wall time


def load_logs(url: str, *args: str) -> None:
    """The project's own loader (python -m ingest), as users load logs."""
    env = {**os.environ, "DATABASE_URL": url}
    for command in (["create-source"], list(args)):
        subprocess.run(
            [sys.executable, "-m", "ingest", *command],
            env=env,
            cwd=PROJECT_ROOT,
            check=True,
            stdout=subprocess.DEVNULL,
        )


def working_copy(target: Path) -> Path:
    """A copy of the repository's dbt project and of its trained versions' artifacts, as a
    user's repository holds them: an export into the copy adds the next version there, and the
    repository stays untouched."""
    copy_project(target)
    shutil.copytree(PROJECT_ROOT / "artifacts", target / "artifacts")
    return target


def _service(value: str | None) -> str | None:
    """The history's service key ('' for lines without one; ml_alerts writes '(none)')."""
    return "" if value == "(none)" else value


class Replay:
    """One database and project copy, replayed run by run (see the module docstring)."""

    def __init__(
        self, conn: psycopg.Connection, project_dir: Path, selection: Selection = FAST
    ) -> None:
        self.conn = conn
        self.url = url_of(conn)  # for dbt and the export, which connect on their own
        self.project_dir = project_dir
        self.selection = selection
        self.dbt = InProcessDbt(self.url, project_dir)
        self.version: str | None = None
        self.cutoff: pd.Timestamp | None = None
        self.seconds: dict[str, float] = {}  # export, deploy, runs
        self._raised: dict[tuple[str, str], Raised] = {}
        self._before: set[tuple[str, str]] = set()  # raised by the first run, before the replay
        self._tables: list[ProductTable] = []  # the PRODUCT_TABLES the project built
        self._source = source_table()
        self._held = sql.Identifier(SCHEMA, "held_back")

    def _execute(
        self, statement: sql.SQL | sql.Composed, params: tuple[Any, ...] = ()
    ) -> list[tuple]:
        with self.conn.cursor() as cur:
            cur.execute(statement, params)
            return cur.fetchall() if cur.description else []

    def hide_labels(self) -> pd.DataFrame:
        """Clear is_anomaly and anomaly_type in the log source; return them (log_entry_id,
        logged_at, service, is_anomaly, anomaly_type), the truth the figures are judged by."""
        rows = self._execute(
            sql.SQL(
                'select id, "timestamp", service, is_anomaly, anomaly_type from {} order by id'
            ).format(self._source)
        )
        self._execute(
            sql.SQL(
                "update {} set is_anomaly = null, anomaly_type = null"
                " where is_anomaly is not null or anomaly_type is not null"
            ).format(self._source)
        )
        columns = ["log_entry_id", "logged_at", "service", "is_anomaly", "anomaly_type"]
        truth = pd.DataFrame.from_records(rows, columns=columns)
        truth["logged_at"] = pd.to_datetime(truth["logged_at"], utc=True)
        return truth

    def hold_back(self, cutoff: pd.Timestamp) -> int:
        """Move the lines logged at or after `cutoff` out of the log source; how many."""
        self.cutoff = cutoff
        self._execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(SCHEMA)))
        self._execute(sql.SQL("drop table if exists {}").format(self._held))
        self._execute(
            sql.SQL('create table {} as select * from {} where "timestamp" >= %s').format(
                self._held, self._source
            ),
            (cutoff,),
        )
        self._execute(sql.SQL('create index on {} ("timestamp")').format(self._held))
        self._execute(
            sql.SQL('delete from {} where "timestamp" >= %s').format(self._source), (cutoff,)
        )
        for table in (self._held, self._source):
            self._execute(sql.SQL("analyze {}").format(table))
        return int(self._execute(sql.SQL("select count(*) from {}").format(self._held))[0][0])

    def train(self, seed: int) -> str:
        """`python -m model_export export` on the lines before the cutoff into the project copy,
        as users train; then the first dbt run (scoring them). Returns the version."""
        if self.cutoff is None:
            raise ReplayError("hold_back(cutoff) first: training reads the lines before it")
        started = time.monotonic()
        command = [sys.executable, "-m", "model_export", "export", "--url", self.url]
        command += ["--project-dir", str(self.project_dir)]
        command += ["--artifacts-dir", str(self.project_dir / "artifacts")]
        command += ["--window-end", self.cutoff.isoformat(), "--seed", str(seed)]
        done = subprocess.run(command, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True)
        if done.returncode != 0:
            raise ReplayError(f"export failed (exit {done.returncode}): {done.stdout[-2000:]}")
        self.version = done.stdout.strip().splitlines()[-1]
        self.seconds["export"] = time.monotonic() - started
        started = time.monotonic()
        for command_args in self.selection.deploy:
            self.dbt(*command_args)
        self._tables = [table for table in PRODUCT_TABLES if self._exists(table.name)]
        self._before = {key for key, _ in self._read(run=-1)}
        self.seconds["deploy"] = time.monotonic() - started
        return self.version

    def _exists(self, table: str) -> bool:
        name = output_table(table).as_string(self.conn)
        return self._execute(sql.SQL("select to_regclass(%s)"), (name,))[0][0] is not None

    def _read(self, run: int) -> Iterator[tuple[tuple[str, str], Raised]]:
        for table in self._tables:
            for key, kind, service, start, end in self._execute(table.query()):
                raised = Raised(
                    str(kind),
                    _service(service),
                    pd.Timestamp(start).tz_convert("UTC"),
                    pd.Timestamp(end).tz_convert("UTC"),
                    run,
                )
                yield (table.name, str(key)), raised

    def release(self, until: pd.Timestamp) -> int:
        """Move the held-back lines logged before `until` into the log source; how many."""
        statement = sql.SQL(
            'with moved as (delete from {} where "timestamp" < %s returning *)'
            " insert into {} select * from moved"
        ).format(self._held, self._source)
        return int(self.conn.execute(statement, (until,)).rowcount)

    def step(self, until: pd.Timestamp) -> Run:
        """One scheduled run: the lines logged before `until` arrive, dbt runs, and the rows
        the product raised are read."""
        index = run_of(until - pd.Timedelta(microseconds=1))
        lines = self.release(until)
        started = time.monotonic()
        for command_args in self.selection.run:
            self.dbt(*command_args)
        seconds = time.monotonic() - started
        self.seconds["runs"] = self.seconds.get("runs", 0.0) + seconds
        new = []
        for key, raised in self._read(index):
            if key in self._before:
                continue
            known = self._raised.get(key)
            if known is None:
                new.append(raised)
            self._raised[key] = raised if known is None else _grown(known, raised)
        return Run(index, lines, new, seconds)

    def runs(self) -> Iterator[Run]:
        """Every scheduled run that has lines to bring, oldest first, until none are held."""
        while (arrival := self.next_arrival()) is not None:
            yield self.step(run_end(arrival))

    def next_arrival(self) -> pd.Timestamp | None:
        """When the oldest held-back line was logged (None: none is held back)."""
        found = self._execute(sql.SQL('select min("timestamp") from {}').format(self._held))
        return None if found[0][0] is None else pd.Timestamp(found[0][0]).tz_convert("UTC")

    def raised(self) -> dict[str, list[Raised]]:
        """Per product table the project built, what it raised in the replayed runs (with the
        newest windows)."""
        found: dict[str, list[Raised]] = {table.name: [] for table in self._tables}
        for (table, _), raised in self._raised.items():
            found[table].append(raised)
        return found

    def line_flags(self, table: str) -> set[int]:
        """The ids of the lines a product table's answer flags for the trained version."""
        product = product_table(table)
        query = sql.SQL(product.flagged).format(output_table(product.line_table))  # type: ignore[arg-type]
        return {int(row[0]) for row in self._execute(query, (self.version,))}


def run_end(moment: pd.Timestamp) -> pd.Timestamp:
    """The end of the scheduled run a moment of log time falls in."""
    return (run_of(moment) + 1) * RUN + pd.Timestamp(0, tz="UTC")


def _grown(first: Raised, latest: Raised) -> Raised:
    """A row read again: raised when it was first read, about its newest window."""
    return Raised(latest.kind, latest.service, latest.start, latest.end, first.run)
