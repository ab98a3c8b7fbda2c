"""Reading stg_log_entries rows into the DataFrame the pipelines take, and the time split."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg

from dbt_project.database import one, output_table, url_of
from dbt_project.dbt_runner import invoke_in_process
from dbt_project.source import configured
from model_export.training.features import STG_COLUMNS

# Held-out metrics come from the newest HOLDOUT_FRACTION of the rows by logged_at.
HOLDOUT_FRACTION = 0.2


def stg_relation() -> str:
    """stg_log_entries of the output schema, quoted, for the queries that read it."""
    return output_table("stg_log_entries").as_string()


@dataclass(frozen=True)
class Window:
    """Which stg rows to read: logged_at in [start, end), at most `limit` (the oldest first)."""

    start: datetime | None = None
    end: datetime | None = None
    limit: int | None = None


def ensure_staging(conn: psycopg.Connection, project_dir: Path) -> None:
    """Create the stg_log_entries view with dbt when it does not exist yet, or when it reads
    another log source than the project records (its comment names the source it reads: see
    the model's post-hook), so a model is never trained on one source and registered for
    another. dbt runs in a copy holding only the staging models and the macros: the full
    project cannot parse before a first export has written the seeds its scoring models ref."""
    reads = one(
        conn.execute("select obj_description(to_regclass(%s), 'pg_class')", (stg_relation(),))
    )[0]
    if reads == configured(project_dir).identity:
        return
    with tempfile.TemporaryDirectory(prefix="model_export_stg_") as scratch:
        copy = Path(scratch)
        shutil.copyfile(project_dir / "dbt_project.yml", copy / "dbt_project.yml")
        shutil.copytree(project_dir / "models" / "staging", copy / "models" / "staging")
        shutil.copytree(project_dir / "macros", copy / "macros")
        # in this process: a dbt process would import dbt just the same, and a caller that has
        # imported it already (the test suite, the evaluation) does not pay for it again
        invoke_in_process(["run", "-s", "stg_log_entries"], url_of(conn), copy, quiet=False)


def frame_from_rows(rows: list[tuple], columns: tuple[str, ...] = STG_COLUMNS) -> pd.DataFrame:
    """A DataFrame with the stg column types the pipelines expect (numbers as float64, NaN for
    NULL; text as Python str or None)."""
    frame = pd.DataFrame.from_records(rows, columns=list(columns))
    for name in ("http_status", "response_time_ms"):
        if name in frame:
            frame[name] = pd.to_numeric(frame[name], errors="coerce").astype(np.float64)
    return frame


def _window_query(select: str, window: Window, where: str) -> tuple[str, list[object]]:
    """The stg rows of a window in (logged_at, log_entry_id) order, as a query and its params."""
    conditions = [where]
    params: list[object] = []
    if window.start is not None:
        conditions.append("logged_at >= %s")
        params.append(window.start)
    if window.end is not None:
        conditions.append("logged_at < %s")
        params.append(window.end)
    query = (
        f"select {select} from {stg_relation()} where {' and '.join(conditions)}"
        " order by logged_at, log_entry_id"
    )
    if window.limit is not None:
        query += f" limit {int(window.limit)}"
    return query, params


def read_stg(
    conn: psycopg.Connection, window: Window = Window(), where: str = "true"
) -> pd.DataFrame:
    """stg rows in (logged_at, log_entry_id) order, optionally restricted by a SQL condition."""
    query, params = _window_query(", ".join(STG_COLUMNS), window, where)
    return frame_from_rows(conn.execute(query, params).fetchall())


def fingerprint(conn: psycopg.Connection, window: Window = Window()) -> str:
    """What a model was trained on, in 32 hex digits: md5 over the window's rows (time, level,
    message) in order, so the same logs give the same fingerprint on any server and anything
    else (one more row, one changed message) gives another."""
    row = "md5(concat_ws(chr(31), extract(epoch from logged_at)::text, level, message))"
    rows, params = _window_query(f"logged_at, log_entry_id, {row} as row_md5", window, "true")
    ordered = "string_agg(row_md5, '' order by logged_at, log_entry_id)"
    return str(one(conn.execute(f"select md5({ordered}) from ({rows}) as w", params))[0])


def time_split(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, held_out): the oldest 80% and the newest 20% of the rows by logged_at."""
    ordered = frame.sort_values(["logged_at", "log_entry_id"], kind="stable")
    cut = int(round(len(ordered) * (1.0 - HOLDOUT_FRACTION)))
    return ordered.iloc[:cut].reset_index(drop=True), ordered.iloc[cut:].reset_index(drop=True)
