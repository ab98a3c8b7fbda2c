"""Verify a bring-your-own pipeline: compile it, load its seeds the way dbt does
(verify.load_seeds), score rows with the macro in PostgreSQL and with the Pipeline in Python,
and compare every output (compiler/byo.py): labels equal, probabilities, decision values and
predictions within verify.TOLERANCE. On any DataFrame (verify_pipeline: the DataFrame holds
the key column and the columns the pipeline reads; missing values are NaN / None in it and
NULL in the table, as a user's table holds them), or on rows of stg_log_entries with the
macro a registered version has in the project (verify_on_stg, verify_byo_version).
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
from psycopg import sql

from dbt_project.database import PROJECT_ROOT
from dbt_project.errors import InputError
from model_export.compiler.byo import KEY, TEXT_COLUMN
from model_export.compiler.pipeline import Compiled, compile_pipeline, model_steps
from model_export.compiler.project_files import rendered_files, write_files
from model_export.compiler.render import copy_used_macros, render_macro
from model_export.lifecycle import versions
from model_export.lifecycle.artifacts import load_pipeline
from model_export.lifecycle.registry import artifacts
from model_export.lifecycle.verify import (
    Comparison,
    compare,
    load_seeds,
    sample_condition,
    verify_macro,
)
from model_export.training.features import MessageColumn

SCHEMA = "ml_verify_byo"
LABELS = {"predicted_label"}


def reference(pipeline: object, inputs: object) -> dict[str, np.ndarray]:
    """What the macro's outputs must be, computed by scikit-learn (byo.py names them)."""
    out: dict[str, np.ndarray] = {}
    model = pipeline.steps[-1][1]  # type: ignore[attr-defined]
    if hasattr(model, "classes_"):
        out["predicted_label"] = np.asarray([str(v) for v in pipeline.predict(inputs)])  # type: ignore[attr-defined]
        if hasattr(model, "predict_proba"):  # False where it is not available (hinge loss)
            proba = np.asarray(pipeline.predict_proba(inputs), dtype=np.float64)  # type: ignore[attr-defined]
            out["confidence"] = proba.max(axis=1)
            out |= {f"probability_{k}": proba[:, k] for k in range(proba.shape[1])}
        else:
            decisions = np.asarray(pipeline.decision_function(inputs), dtype=np.float64)  # type: ignore[attr-defined]
            decisions = decisions.reshape(len(decisions), -1)
            out |= {f"decision_{k}": decisions[:, k] for k in range(decisions.shape[1])}
    else:
        out["prediction"] = np.asarray(pipeline.predict(inputs), dtype=np.float64).ravel()  # type: ignore[attr-defined]
    return out


def pipeline_inputs(pipeline: object, frame: pd.DataFrame) -> object:
    """What the Pipeline reads from the frame: the frame itself when its first step picks the
    message column (MessageColumn), the message strings of a text pipeline fitted on strings,
    else the frame's columns (a DataFrame when it was fitted on one)."""
    if isinstance(pipeline.steps[0][1], MessageColumn):  # type: ignore[attr-defined]
        return frame
    first = model_steps(pipeline)[0][1]  # type: ignore[arg-type]
    names = getattr(first, "feature_names_in_", None)
    if names is not None:
        return frame[list(names)]
    if hasattr(first, "vocabulary_") and not hasattr(first, "transformers_"):
        return frame[TEXT_COLUMN].tolist()
    columns = [c for c in frame.columns if c != KEY]
    return frame[columns].to_numpy(dtype=np.float64)


def load_frame(conn: psycopg.Connection, table: str, frame: pd.DataFrame) -> None:
    """The frame as a table: numbers float8 (NaN as NULL), text as text, the key bigint."""
    types = {
        c: "bigint" if c == KEY else "float8" if pd.api.types.is_numeric_dtype(t) else "text"
        for c, t in frame.dtypes.items()
    }
    columns = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(str(c)), sql.SQL(t)) for c, t in types.items()
    )
    lines = io.StringIO()
    for row in frame.itertuples(index=False):
        lines.write("\t".join(_copy_cell(v) for v in row) + "\n")
    lines.seek(0)
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(sql.SQL("drop table if exists {}").format(sql.Identifier(table)))
        cur.execute(sql.SQL("create table {} ({})").format(sql.Identifier(table), columns))
        with cur.copy(sql.SQL("copy {} from stdin").format(sql.Identifier(table))) as copy:
            copy.write(lines.getvalue())
        cur.execute(sql.SQL("analyze {}").format(sql.Identifier(table)))


def _copy_cell(value: object) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "\\N"
    if isinstance(value, float):
        return repr(value)
    escapes = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
    return str(value).translate(escapes)


def install(
    conn: psycopg.Connection, compiled: Compiled, project: Path, schema: str = SCHEMA
) -> None:
    """The macro and seeds written into `project` (a dbt project folder) and the seeds
    loaded into `schema` as dbt seed loads them."""
    copy_used_macros(PROJECT_ROOT, project)
    write_files(project, rendered_files([compiled]))
    load_seeds(conn, project, schema)


def score_table(
    conn: psycopg.Connection, project: Path, name: str, table: str, schema: str = SCHEMA
) -> pd.DataFrame:
    """The macro's outputs for every row of `table`, by key."""
    query = render_macro(project, name, schema, table)
    with conn.cursor() as cur:
        cur.execute(f"select * from ({query}) as scored order by {KEY}")  # type: ignore[arg-type]
        names = [d.name for d in cur.description or ()]
        return pd.DataFrame.from_records(cur.fetchall(), columns=names)


def verify_pipeline(
    conn: psycopg.Connection, pipeline: object, frame: pd.DataFrame, name: str = "ml_byo_verify"
) -> list[Comparison]:
    """Compile the pipeline, score `frame` both ways, compare every output."""
    compiled = compile_pipeline(pipeline, name)  # type: ignore[arg-type]
    frame = frame.sort_values(KEY).reset_index(drop=True)
    with tempfile.TemporaryDirectory() as folder:
        project = Path(folder)
        install(conn, compiled, project)
        load_frame(conn, f"{name}_input", frame)
        scored = score_table(conn, project, name, f"{name}_input")
    if not np.array_equal(scored[KEY].to_numpy(), frame[KEY].to_numpy()):
        raise AssertionError(f"{name} did not return exactly one row per input row")
    expected = reference(pipeline, pipeline_inputs(pipeline, frame))
    missing = set(expected) - set(scored.columns)
    if missing:
        raise AssertionError(f"{name} lacks outputs {sorted(missing)}")
    return compare(name, scored, expected, LABELS)


def stg_reference(pipeline: object, inputs: pd.DataFrame) -> dict[str, np.ndarray]:
    """The reference outputs for rows of stg_log_entries (verify.Reference); a Pipeline that
    scikit-learn cannot run on them is an InputError saying why."""
    try:
        return reference(pipeline, pipeline_inputs(pipeline, inputs))
    except (ValueError, KeyError, TypeError) as error:
        raise InputError(
            f"scikit-learn cannot score rows of stg_log_entries with this Pipeline: {error}"
            " (fit it on stg_log_entries' columns, with an imputer for the columns that may be"
            " NULL)"
        ) from None


def verify_on_stg(
    conn: psycopg.Connection,
    project_dir: Path,
    macro: str,
    pipeline: object,
    rows: int | None,
    schema: str = SCHEMA,
) -> list[Comparison]:
    """The macro of `project_dir` (its seeds loaded into `schema`) against the Pipeline on a
    sample of `rows` stg rows (None: all)."""
    load_seeds(conn, project_dir, schema)
    where = sample_condition(rows)
    return verify_macro(conn, project_dir, macro, pipeline, stg_reference, where, schema)


def verify_byo_version(
    conn: psycopg.Connection, project_dir: Path, rows: int | None, version: str
) -> list[Comparison]:
    """A registered bring-your-own version: the macro in the project against its joblib
    Pipeline, on a sample of stg rows."""
    _, paths = artifacts(conn, version)
    (path,) = paths.values()
    return verify_on_stg(conn, project_dir, versions.byo_macro(version), load_pipeline(path), rows)
