"""`verify`: score the same rows with the compiled SQL (in the database) and the joblib
Pipelines (in Python) and compare: label agreement and the largest absolute difference of
every numeric output. Exact means every label equal and every difference <= TOLERANCE."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd
import psycopg
import yaml  # type: ignore[import-untyped]
from dbt_common.clients import agate_helper
from psycopg import sql

from dbt_project.database import output_table
from model_export.compiler.names import SEED_DIR
from model_export.compiler.render import render_macro
from model_export.lifecycle import versions
from model_export.lifecycle.artifacts import load_pipeline
from model_export.lifecycle.registry import artifacts
from model_export.training import pipelines
from model_export.training.anomaly_detectors import (
    SERVICE_LINES,
    TEMPLATE_LINES,
    training_history,
    with_history,
)
from model_export.training.data import frame_from_rows, stg_relation
from model_export.training.features import STG_COLUMNS
from model_export.training.templates import templates_of

TOLERANCE = 1e-9
VERIFY_SCHEMA = "ml_verify"
BATCH = "ml_verify_batch"


@dataclass(frozen=True)
class Comparison:
    """One output compared: labels (agreement) or numbers (max |diff|)."""

    model: str
    column: str
    rows: int
    agreement: float | None = None
    max_abs_diff: float | None = None

    @property
    def exact(self) -> bool:
        if self.agreement is not None:
            return self.agreement == 1.0
        return self.max_abs_diff is not None and self.max_abs_diff <= TOLERANCE

    def line(self) -> str:
        value = (
            f"label agreement {self.agreement:.6f}"
            if self.agreement is not None
            else f"max |diff| {self.max_abs_diff:.3e}"
        )
        flag = "ok" if self.exact else "NOT EXACT"
        return f"{self.model:<22} {self.column:<20} rows {self.rows:>8}  {value}  {flag}"


def compare(
    model: str, sql_rows: pd.DataFrame, python: dict[str, np.ndarray], labels: set[str]
) -> list[Comparison]:
    """Compare columns of the SQL result with the Python outputs (same row order)."""
    results = []
    for column, expected in python.items():
        got = sql_rows[column].to_numpy()
        if column in labels:
            same = np.asarray([str(a) == str(b) for a, b in zip(got, expected, strict=True)])
            results.append(Comparison(model, column, len(got), agreement=float(same.mean())))
        else:
            diff = np.abs(got.astype(np.float64) - np.asarray(expected, dtype=np.float64))
            worst = float(np.max(diff)) if len(diff) else 0.0
            if np.isnan(diff).any():
                worst = float("inf")
            results.append(Comparison(model, column, len(got), max_abs_diff=worst))
    return results


def load_seeds(conn: psycopg.Connection, project_dir: Path, schema: str = VERIFY_SCHEMA) -> None:
    """Load the generated seed CSVs into `schema` with their declared column types, read by
    dbt's own seed reader (what `dbt seed` inserts, without a dbt run): a cell that reader
    would turn into NULL is NULL here too, so verify sees what dbt's scoring sees."""
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(schema)))
        cur.execute(sql.SQL("create schema {}").format(sql.Identifier(schema)))
        for path in sorted((project_dir / SEED_DIR).rglob("*.csv")):
            types = _column_types(path.with_suffix(".yml"))
            rows = agate_helper.from_csv(str(path), text_columns=list(types))
            columns = sql.SQL(", ").join(
                sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(types[c]))
                for c in rows.column_names
            )
            table = sql.Identifier(schema, path.stem)
            cur.execute(sql.SQL("create table {} ({})").format(table, columns))
            with cur.copy(sql.SQL("copy {} from stdin").format(table)) as copy:
                copy.write("".join(_copy_line(row.values()) for row in rows.rows))
            # The index dbt creates from the seed's properties (its first column), and
            # statistics, as autovacuum gives a seeded table: without them the planner
            # guesses the lookup tables' sizes and may pick a worse (serial) plan.
            first = sql.Identifier(rows.column_names[0])
            cur.execute(sql.SQL("create index on {} ({})").format(table, first))
            cur.execute(sql.SQL("analyze {}").format(table))


def _copy_line(values: Sequence[object]) -> str:
    """One row in COPY's text format (None is NULL; every column is read as text)."""
    escapes = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
    cells = ["\\N" if v is None else str(v).translate(escapes) for v in values]
    return "\t".join(cells) + "\n"


def _column_types(properties: Path) -> dict[str, str]:
    """The seed's `config.column_types` from its properties file (one seed per file)."""
    (seed,) = yaml.safe_load(properties.read_text(encoding="utf-8"))["seeds"]
    return {name: str(sql_type) for name, sql_type in seed["config"]["column_types"].items()}


def score_sql(
    conn: psycopg.Connection,
    project_dir: Path,
    macro: str,
    where: str,
    schema: str = VERIFY_SCHEMA,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(SQL outputs, input rows) for the stg rows matching `where`, both by log_entry_id."""
    query = render_macro(project_dir, macro, schema, BATCH)
    # one transaction: the batch table is dropped at its end
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(
            f"create temp table {BATCH} on commit drop as select {', '.join(STG_COLUMNS)}"
            f" from {stg_relation()} where {where}"
        )
        cur.execute(f"select * from {BATCH} order by log_entry_id")
        inputs = frame_from_rows(cur.fetchall())
        cur.execute(f"select * from ({query}) as scored order by log_entry_id")
        names = [d.name for d in cur.description or ()]
        outputs = pd.DataFrame.from_records(cur.fetchall(), columns=names)
    if len(outputs) != len(inputs) or not np.array_equal(
        outputs["log_entry_id"].to_numpy(), inputs["log_entry_id"].to_numpy()
    ):
        raise AssertionError(f"{macro} did not return exactly one row per input row")
    return outputs, inputs


def level_reference(model: object, inputs: pd.DataFrame) -> dict[str, np.ndarray]:
    out = pipelines.classifier_outputs(model, inputs)
    return {"predicted_level": out.label, "level_confidence": out.confidence}


def anomaly_reference(model: object, inputs: pd.DataFrame) -> dict[str, np.ndarray]:
    out = pipelines.anomaly_outputs(model, inputs)
    explained = {} if out.explanation is None else {"anomaly_explanation": out.explanation}
    return {
        "anomaly_score": out.score,
        "is_anomaly": out.is_anomaly,
        "anomaly_confidence": out.confidence,
        **explained,
    }


def text_reference(model: object, inputs: pd.DataFrame) -> dict[str, np.ndarray]:
    """A user-supplied pipeline fitted on raw message strings."""
    out = pipelines.classifier_outputs(model, inputs["message"].tolist())
    return {"predicted_label": out.label, "confidence": out.confidence}


Reference = Callable[[object, pd.DataFrame], dict[str, np.ndarray]]
LABELS = {
    "predicted_level",
    "is_anomaly",
    "predicted_label",
    "anomaly_explanation",
    "level_explanation",
}


def verify_macro(
    conn: psycopg.Connection,
    project_dir: Path,
    macro: str,
    model: object,
    reference: Reference,
    where: str,
    schema: str = VERIFY_SCHEMA,
) -> list[Comparison]:
    """Score the stg rows matching `where` with the macro (seeds read from `schema`) and
    with the model in Python; compare."""
    outputs, inputs = score_sql(conn, project_dir, macro, where, schema)
    return compare(macro, outputs, reference(model, inputs), LABELS)


def sample_condition(rows: int | None) -> str:
    """A spread-out, deterministic sample of stg rows (all rows when rows is None)."""
    if rows is None:
        return "true"
    return (
        f"log_entry_id in (select log_entry_id from {stg_relation()}"
        f" order by md5(log_entry_id::text) limit {int(rows)})"
    )


def load_version(
    conn: psycopg.Connection, version: str | None = None
) -> tuple[str, tuple[object, object]]:
    """(version, (level classifier, anomaly detector)) of a version, default the active one."""
    version, paths = artifacts(conn, version)
    return version, (
        load_pipeline(paths["level_classifier"]),
        load_pipeline(paths["anomaly_detector"]),
    )


def version_reference(models: object, inputs: pd.DataFrame) -> dict[str, np.ndarray]:
    """What a version's scoring macro must return: both models' outputs, and the history it
    counted (without stored history: the training history the version ships, if any)."""
    level, detector = cast(tuple[object, object], models)
    if TEMPLATE_LINES not in inputs:
        inputs = with_history(
            inputs, trained=training_history(detector), templates=templates_of(detector)
        )
    history = {c: inputs[c].to_numpy() for c in (TEMPLATE_LINES, SERVICE_LINES)}
    explained = {"level_explanation": pipelines.level_explanations(level, inputs)}
    return (
        level_reference(level, inputs) | explained | anomaly_reference(detector, inputs) | history
    )


def verify_version(
    conn: psycopg.Connection, project_dir: Path, rows: int | None, version: str | None = None
) -> list[Comparison]:
    """Both models of a version (default: the active one), as its one scoring macro, on a
    sample of stg rows."""
    version, models = load_version(conn, version)
    load_seeds(conn, project_dir)
    where = sample_condition(rows)
    return verify_macro(
        conn, project_dir, versions.scorer_macro(version), models, version_reference, where
    )


def verify_predictions(
    conn: psycopg.Connection, rows: int | None, version: str | None = None
) -> list[Comparison]:
    """The rows dbt already wrote to ml_predictions for a version (default: active)."""
    version, models = load_version(conn, version)
    limit = "" if rows is None else f" order by p.log_entry_id limit {int(rows)}"
    predictions = output_table("ml_predictions").as_string()
    with conn.cursor() as cur:
        cur.execute(
            "select p.log_entry_id, p.predicted_level, p.level_confidence, p.is_anomaly,"
            " p.anomaly_score, p.anomaly_confidence, p.template_lines, p.service_lines"
            f" from {predictions} as p where p.model_version = %s{limit}",
            (version,),
        )
        names = [d.name for d in cur.description or ()]
        predicted = pd.DataFrame.from_records(cur.fetchall(), columns=names)
        cur.execute(
            f"select {', '.join(STG_COLUMNS)} from {stg_relation()}"
            " where log_entry_id = any(%s) order by log_entry_id",
            (predicted["log_entry_id"].tolist(),),
        )
        inputs = frame_from_rows(cur.fetchall())
    predicted = predicted.sort_values("log_entry_id").reset_index(drop=True)
    # The history each line was scored with is state, not a function of the line: the
    # reference reads it from the table (the counting itself is tested on its own).
    history = predicted[[TEMPLATE_LINES, SERVICE_LINES]]
    expected = version_reference(models, pd.concat([inputs, history], axis=1))
    # stored inside `explanation` (tests compare it)
    expected.pop("anomaly_explanation", None)
    expected.pop("level_explanation", None)
    return compare(f"ml_predictions {version}", predicted, expected, LABELS)
