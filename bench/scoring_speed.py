"""Scoring speed: the compiled SQL inside PostgreSQL against the same joblib Pipelines run
the Python way, on the same rows, same machine, same run.

    .venv/bin/python -m bench.scoring_speed --rows 1000000

In a database of its own (`logml_bench_scoring` on DATABASE_URL's server or the embedded
one; dropped at the end unless --keep): load --rows generated logs, train both models with
`model_export` on the oldest --train-rows of them (training is not timed), then score all
rows twice, each time writing one result row per log into a new table:
- database path: one `create table ... as select` from the generated scoring macro
  (ml_score_vN: both models in one pass per log) over ml.stg_log_entries (jit off, work_mem and
  parallel_tuple_cost as the ml_predictions model sets them, the server's default
  parallelism). The loaded table and the
  seed tables are ANALYZEd first (load_seeds does the seeds), as autovacuum does in
  production: without statistics the planner guesses the lookup tables' sizes and picks a
  serial plan (measured: 6.3 s instead of 4.3 s at 200,000 rows on 2 cores);
- Python path: a server-side cursor streams the stg rows in chunks, each chunk is a
  DataFrame going through the Pipelines (each pipeline's features computed once per chunk,
  then predict / predict_proba or score_samples / decision_function), and the results are
  COPYed back.
With --repeat N both paths run N times, alternating, and each path's median counts.
The generated is_anomaly labels are cleared first (most users have none: the default
detector is then severity x rarity, whose history both paths read as one run does: the
version's training history); --with-labels keeps them (template labels). Explanations are not
written by either scoring path.
Both tables are compared (labels equal, max |diff| of the numbers, history counts).

Then the whole write, both ways, same run: writing costs more than scoring, so the table the
product keeps is timed too.
- dbt path: the ml_predictions model built from scratch by `dbt run` (scoring, every column
  of the table, its ANALYZE and its four indexes: dbt's execution_time of the model);
- Python path writing the same table: a table like ml.ml_predictions (same columns and
  types), the stg rows streamed, scored by the Pipelines, the other columns computed in
  pandas (severity by the same rule; an explanation of the same form, without the compiled
  models' per-line reasons), COPYed in, then ANALYZE and the same four indexes.
Prints a markdown table; writes bench/results/scoring_speed.json.
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
import yaml
from psycopg import sql
from psycopg.conninfo import make_conninfo

from dbt_project.database import PROJECT_ROOT, connect, database_url, job_connection, output_table
from dbt_project.source import configured
from dev.pipeline import dbt, project_copy, scoring_step
from ingest.generator import GeneratorSpec
from ingest.session import load_generated
from ingest.source_table import create_source_table
from model_export.compiler.render import render_macro
from model_export.export import export
from model_export.lifecycle import versions
from model_export.lifecycle.verify import load_seeds, load_version
from model_export.training.anomaly_detectors import (
    SERVICE_LINES,
    TEMPLATE_HASH,
    TEMPLATE_LINES,
    SeverityRarity,
    TemplateLabels,
    training_history,
    with_history,
)
from model_export.training.data import Window, frame_from_rows, stg_relation
from model_export.training.features import STG_COLUMNS
from model_export.training.templates import templates_of

RESULTS = PROJECT_ROOT / "bench" / "results"
BENCH_DATABASE = "logml_bench_scoring"
SEED_SCHEMA = "ml_bench_seeds"
TARGET_RATIO = 2.0
CHUNK_ROWS = 50_000
# As models/marts/scoring/ml_predictions.sql sets it for the scoring statement (why: see there).
SCORING_PARALLEL_TUPLE_COST = 0.01
OUTPUT_COLUMNS = (
    "log_entry_id bigint, predicted_level text, level_confidence float8,"
    " is_anomaly boolean, anomaly_score float8, anomaly_confidence float8,"
    " template_lines bigint, service_lines bigint"
)


def _database(server: str, name: str) -> str:
    return make_conninfo(server, dbname=name)


def _dbt_var(name: str) -> str:
    project = yaml.safe_load((PROJECT_ROOT / "dbt_project.yml").read_text(encoding="utf-8"))
    return str(project["vars"][name])


def database_path(url: str, project_dir: Path, version: str) -> float:
    scores = render_macro(project_dir, versions.scorer_macro(version), SEED_SCHEMA, stg_relation())
    statement = f"""create table bench_db_scores as
select s.log_entry_id, s.predicted_level, s.level_confidence,
       s.is_anomaly, s.anomaly_score, s.anomaly_confidence, s.template_lines, s.service_lines
from ({scores}) as s"""
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute("drop table if exists bench_db_scores")
        # the same session settings as the ml_predictions model's pre-hooks
        cur.execute("set jit = off")
        cur.execute("select set_config('work_mem', %s, false)", (_dbt_var("scoring_work_mem"),))
        cur.execute(f"set parallel_tuple_cost = {SCORING_PARALLEL_TUPLE_COST}")
        started = time.perf_counter()
        cur.execute(statement)
    return time.perf_counter() - started


def _score_chunk(level: object, detector: object, frame: pd.DataFrame) -> pd.DataFrame:
    classifier = level[-1]
    terms = level[:-1].transform(frame)
    labels = classifier.predict(terms)
    proba = classifier.predict_proba(terms)
    confidence = proba[np.arange(len(frame)), np.searchsorted(classifier.classes_, labels)]
    model = detector[-1]
    # the history each line is scored with, as the SQL counts it in one statement (one run):
    # the version's training history; lines of one run do not count each other
    frame = with_history(
        frame, trained=training_history(detector), templates=templates_of(detector)
    )
    if isinstance(model, SeverityRarity):
        signals = model.signals(frame)
        flagged, score = model.decide(signals), signals["score"]
        anomaly_confidence = model.confidence(signals)
    elif isinstance(model, TemplateLabels):
        signals = model.signals(frame)
        flagged, score, anomaly_confidence = (
            signals["flagged"],
            signals["score"],
            signals["confidence"],
        )
    elif hasattr(model, "score_samples"):
        features = detector[:-1].transform(frame)
        decision = model.decision_function(features)
        offset = float(model.offset_)
        flagged = decision < 0
        score = -model.score_samples(features)
        anomaly_confidence = np.where(flagged, -decision / (1.0 + offset), decision / -offset)
    else:
        features = detector[:-1].transform(frame)
        detector_proba = model.predict_proba(features)
        flagged = model.predict(features).astype(bool)
        score = detector_proba[:, [bool(c) for c in model.classes_].index(True)]
        index = np.searchsorted(model.classes_, flagged)
        anomaly_confidence = detector_proba[np.arange(len(frame)), index]
    return pd.DataFrame(
        {
            "log_entry_id": frame["log_entry_id"],
            "predicted_level": labels,
            "level_confidence": confidence,
            "is_anomaly": flagged,
            "anomaly_score": score,
            "anomaly_confidence": anomaly_confidence,
            "template_lines": frame[TEMPLATE_LINES],
            "service_lines": frame[SERVICE_LINES],
            "template_hash": frame[TEMPLATE_HASH],
        }
    )


def _copy_csv(writer: psycopg.Cursor, table: str, frame: pd.DataFrame) -> None:
    buffer = io.StringIO()
    # repr-exact floats (float_format=None keeps all digits)
    frame.to_csv(buffer, index=False, header=False)
    with writer.copy(f"copy {table} from stdin with (format csv)") as copy:
        copy.write(buffer.getvalue())


def _stream_scored(
    conn: psycopg.Connection, table: str, rows_of: Callable[[pd.DataFrame], pd.DataFrame]
) -> None:
    """The Python path's loop: the stg rows streamed CHUNK_ROWS at a time through a server-side
    cursor (which lives in a transaction), each chunk's DataFrame turned into rows of `table`
    by `rows_of` and COPYed in."""
    with (
        conn.transaction(),
        conn.cursor(name=f"{table}_stream") as stream,
        conn.cursor() as writer,
    ):
        stream.itersize = CHUNK_ROWS
        stream.execute(f"select {', '.join(STG_COLUMNS)} from {stg_relation()}")
        while rows := stream.fetchmany(CHUNK_ROWS):
            _copy_csv(writer, table, rows_of(frame_from_rows(rows)))


def python_path(url: str) -> float:
    with connect(url) as conn:
        _, (level, detector) = load_version(conn)
        conn.execute("drop table if exists bench_py_scores")
        conn.execute(f"create table bench_py_scores ({OUTPUT_COLUMNS})")
        started = time.perf_counter()
        # the SQL scoring returns no template hash (ml_predictions' model adds it)
        _stream_scored(
            conn,
            "bench_py_scores",
            lambda frame: _score_chunk(level, detector, frame).drop(columns=TEMPLATE_HASH),
        )
    return time.perf_counter() - started


# The ml_predictions model's indexes (models/marts/scoring/ml_predictions.sql, post-hooks).
PREDICTION_INDEXES = (
    "create unique index on {} (model_version, log_entry_id)",
    "create index on {} (logged_at)",
    "create index on {} (model_version, logged_at)",
    "create index on {} (predicted_at)",
)


def dbt_run_path(url: str, project_dir: Path) -> float:
    """The ml_predictions model built from scratch by dbt: its execution_time (the scoring
    statement, the hooks: ANALYZE and the four indexes)."""
    with connect(url) as conn:
        conn.execute(sql.SQL("drop table if exists {}").format(output_table("ml_predictions")))
    dbt(project_dir, url, "run", "-s", "ml_predictions", artifacts=True)
    return scoring_step(project_dir)[0]


def _severity(flagged: pd.Series, level: pd.Series) -> np.ndarray:
    """macros/severity.sql."""
    return np.select(
        [flagged & (level == "FATAL"), flagged, level.isin(["ERROR", "FATAL"]), level == "WARN"],
        ["critical", "high", "medium", "low"],
        "info",
    )


def _prediction_rows(scores: pd.DataFrame, frame: pd.DataFrame, version: str) -> pd.DataFrame:
    """Every column of ml_predictions, in its order, for one scored chunk."""
    level, flagged = scores["predicted_level"], scores["is_anomaly"]
    explanation = ("level " + level).where(~flagged, "level " + level + "; anomaly: unusual line")
    return pd.DataFrame(
        {
            "log_entry_id": frame["log_entry_id"],
            "model_version": version,
            "predicted_level": level,
            "level_confidence": scores["level_confidence"],
            "logged_level": frame["level"],
            "level_disagrees": frame["level"].notna() & (frame["level"] != level),
            "is_anomaly": flagged,
            "anomaly_score": scores["anomaly_score"],
            "anomaly_confidence": scores["anomaly_confidence"],
            "severity": _severity(flagged, level),
            "explanation": explanation,
            "template_hash": scores[TEMPLATE_HASH],
            "template_lines": scores["template_lines"],
            "service_lines": scores["service_lines"],
            "logged_at": frame["logged_at"],
            "service": frame["service"],
            "host": frame["host"],
            "source_type": frame["source_type"],
            "log_id": frame["log_id"],
            "message": frame["message"].str.slice(0, 500),
            "predicted_at": datetime.now(UTC),
            "log_source": configured().identity,
        }
    )


def python_table_path(url: str) -> float:
    """The Pipelines writing a table with ml_predictions' columns, ANALYZE and indexes."""
    with connect(url) as conn:
        version, (level, detector) = load_version(conn)
        conn.execute("drop table if exists bench_py_predictions")
        conn.execute(
            sql.SQL("create table bench_py_predictions (like {})").format(
                output_table("ml_predictions")
            )
        )
        started = time.perf_counter()
        _stream_scored(
            conn,
            "bench_py_predictions",
            lambda frame: _prediction_rows(_score_chunk(level, detector, frame), frame, version),
        )
        with conn.transaction():
            conn.execute("analyze bench_py_predictions")
            for index in PREDICTION_INDEXES:
                conn.execute(index.format("bench_py_predictions"))
    return time.perf_counter() - started


def compare_tables(url: str) -> dict[str, float]:
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            "select count(*), count(p.log_entry_id),"
            " coalesce(sum((d.predicted_level <> p.predicted_level)::int), 0),"
            " coalesce(sum((d.is_anomaly <> p.is_anomaly)::int), 0),"
            " max(abs(d.level_confidence - p.level_confidence)),"
            " max(abs(d.anomaly_score - p.anomaly_score)),"
            " max(abs(d.anomaly_confidence - p.anomaly_confidence)),"
            " coalesce(sum((d.template_lines <> p.template_lines"
            " or d.service_lines <> p.service_lines)::int), 0)"
            " from bench_db_scores as d left join bench_py_scores as p using (log_entry_id)"
        )
        row = cur.fetchone()
    names = (
        "rows",
        "matched_rows",
        "level_label_mismatches",
        "anomaly_label_mismatches",
        "max_diff_level_confidence",
        "max_diff_anomaly_score",
        "max_diff_anomaly_confidence",
        "history_mismatches",
    )
    return {n: float(v) if v is not None else float("nan") for n, v in zip(names, row, strict=True)}


def compare_prediction_tables(url: str) -> dict[str, float]:
    """Rows, and disagreements of the labels and the severity, between the two tables."""
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            sql.SQL(
                "select (select count(*) from {predictions}), count(*),"
                " coalesce(sum((d.predicted_level <> p.predicted_level)::int), 0),"
                " coalesce(sum((d.is_anomaly <> p.is_anomaly)::int), 0),"
                " coalesce(sum((d.severity <> p.severity)::int), 0)"
                " from {predictions} as d join bench_py_predictions as p using (log_entry_id)"
            ).format(predictions=output_table("ml_predictions"))
        )
        row = cur.fetchone()
    names = (
        "dbt_rows",
        "matched_rows",
        "level_mismatches",
        "anomaly_mismatches",
        "severity_mismatches",
    )
    return {n: float(v) for n, v in zip(names, row, strict=True)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--train-rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    parser.add_argument(
        "--with-labels",
        action="store_true",
        help="keep the generated is_anomaly labels (turned into template labels: TemplateLabels);"
        " by default they are cleared, as in most users' logs, and the detector is severity x"
        " rarity",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="score both ways this many times, alternating; report each path's median",
    )
    args = parser.parse_args()

    server = database_url()
    url = _database(server, BENCH_DATABASE)
    with connect(server) as conn:
        name = sql.Identifier(BENCH_DATABASE)
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(name))
        conn.execute(sql.SQL("create database {}").format(name))
    try:
        with (
            job_connection(url) as conn,
            tempfile.TemporaryDirectory(prefix="scoring_speed_") as scratch,
        ):
            create_source_table(conn)
            end = datetime(2026, 1, 1, tzinfo=UTC)
            load_generated(conn, GeneratorSpec(rows=args.rows, seed=args.seed, end=end))
            if not args.with_labels:
                conn.execute("update log_entries set is_anomaly = false")
            conn.execute("analyze log_entries")  # statistics, as autovacuum gives (see above)
            project = project_copy(Path(scratch))
            version = export(
                conn,
                project,
                Path(scratch) / "artifacts",
                Window(limit=args.train_rows),
                args.seed,
            )
            load_seeds(conn, project, SEED_SCHEMA)
            runs = [
                (database_path(url, project, version), python_path(url)) for _ in range(args.repeat)
            ]
            dbt(project, url, "seed")
            table_runs = [
                (dbt_run_path(url, project), python_table_path(url)) for _ in range(args.repeat)
            ]
            table_agreement = compare_prediction_tables(url)
        agreement = compare_tables(url)
        with connect(url) as conn, conn.cursor() as cur:
            cur.execute("select current_setting('max_parallel_workers_per_gather')")
            parallel = cur.fetchone()[0]
    finally:
        if not args.keep:
            with connect(server) as conn:
                conn.execute(
                    sql.SQL("drop database if exists {} with (force)").format(
                        sql.Identifier(BENCH_DATABASE)
                    )
                )
    # The median run of each path: other processes on the machine slow single runs down.
    database_seconds = statistics.median(d for d, _ in runs)
    python_seconds = statistics.median(p for _, p in runs)
    ratio = python_seconds / database_seconds
    dbt_seconds = statistics.median(d for d, _ in table_runs)
    python_table_seconds = statistics.median(p for _, p in table_runs)
    table_ratio = python_table_seconds / dbt_seconds
    result = {
        "rows": args.rows,
        "train_rows": args.train_rows,
        "model_version": version,
        "labels": "kept" if args.with_labels else "cleared",
        "database_seconds": round(database_seconds, 2),
        "python_seconds": round(python_seconds, 2),
        "runs_database_python_seconds": [[round(d, 2), round(p, 2)] for d, p in runs],
        "ratio_python_over_database": round(ratio, 2),
        "target_ratio": TARGET_RATIO,
        "whole_table": {
            "dbt_ml_predictions_seconds": round(dbt_seconds, 2),
            "python_same_table_seconds": round(python_table_seconds, 2),
            "runs_dbt_python_seconds": [[round(d, 2), round(p, 2)] for d, p in table_runs],
            "ratio_python_over_dbt": round(table_ratio, 2),
            "agreement": table_agreement,
        },
        "max_parallel_workers_per_gather": parallel,
        "agreement": agreement,
        "machine": f"{platform.machine()} {platform.processor()} {platform.python_version()}",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "scoring_speed.json").write_text(json.dumps(result, indent=2) + "\n")
    print("| path | rows | seconds | rows/s |\n|---|---:|---:|---:|")
    for label, seconds in (
        ("PostgreSQL (compiled SQL)", database_seconds),
        ("Python (joblib Pipelines)", python_seconds),
    ):
        print(f"| {label} | {args.rows:,} | {seconds:.1f} | {args.rows / seconds:,.0f} |")
    for label, seconds in (
        ("dbt: the whole ml_predictions model (scoring, writing, ANALYZE, 4 indexes)", dbt_seconds),
        ("Python: the same table (columns, ANALYZE, 4 indexes)", python_table_seconds),
    ):
        print(f"| {label} | {args.rows:,} | {seconds:.1f} | {args.rows / seconds:,.0f} |")
    print(f"\nratio Python / PostgreSQL: {ratio:.2f}x (target >= {TARGET_RATIO}x)")
    print(f"whole table, ratio Python / dbt: {table_ratio:.2f}x")
    print(f"runs (dbt s, Python s): {result['whole_table']['runs_dbt_python_seconds']}")
    print(f"whole table agreement: {json.dumps(table_agreement)}")
    print(f"runs (PostgreSQL s, Python s): {result['runs_database_python_seconds']}")
    print(f"agreement: {json.dumps(agreement)}")


if __name__ == "__main__":
    main()
