"""`evaluate`: the honest quality table. Every dataset is split by time (oldest 80% train,
newest 20% held out); every method is trained on the same training rows and scored on the
held-out rows only. Datasets: each loghub system (loaded by the project's loader into a
scratch database) and generated logs. Level classifier: per-class and macro F1 against the
majority class and the old system's pipeline (TF-IDF 1000 terms + RandomForest 100 trees on
raw messages). Anomalies, where lines carry labels: precision/recall/F1 of the default
detector against the rule "FATAL means anomaly" and the old pipeline trained on the labels.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg2.extensions
from psycopg2 import sql
from sklearn.ensemble import RandomForestClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import Pipeline

from dbt_project.database import PROJECT_ROOT, connect
from model_export import pipelines
from model_export.data import ensure_staging, read_stg, time_split
from model_export.detector import severity_rarity
from model_export.export import progress
from model_export.metrics import anomaly_metrics, level_metrics

SCRATCH_DATABASE = "logml_evaluate"


def old_pipeline(seed: int) -> Pipeline:
    """The old system's model, as its users pickled it."""
    return Pipeline(
        [
            ("tfidf", TfidfVectorizer(max_features=1000, stop_words="english")),
            ("clf", RandomForestClassifier(n_estimators=100, random_state=seed, n_jobs=1)),
        ]
    )


def level_rows(dataset: str, frame: pd.DataFrame, seed: int) -> list[dict[str, object]]:
    train, held_out = time_split(frame)
    train, held_out = train[train["level"].notna()], held_out[held_out["level"].notna()]
    if train["level"].nunique() < 2 or held_out.empty:
        return []
    truth = held_out["level"].to_numpy()
    y = train["level"].to_numpy()
    majority = pd.Series(y).mode().iloc[0]
    predictions = {
        "model_export (TF-IDF log tokens + logistic regression)": pipelines.level_classifier(seed)
        .fit(train, y)
        .predict(held_out),
        "majority class": np.full(len(truth), majority, dtype=object),
        "old pipeline (TF-IDF 1000 + RandomForest 100)": old_pipeline(seed)
        .fit(train["message"].tolist(), y)
        .predict(held_out["message"].tolist()),
    }
    return [
        {"dataset": dataset, "method": method, "train": len(train), **level_metrics(truth, p)}
        for method, p in predictions.items()
    ]


def anomaly_rows(dataset: str, frame: pd.DataFrame, seed: int) -> list[dict[str, object]]:
    if frame["is_anomaly_label"].isna().all() or not frame["is_anomaly_label"].any():
        return []
    train, held_out = time_split(frame)
    truth = pipelines.anomaly_labels(held_out)
    labels = pipelines.anomaly_labels(train)
    if not truth.any() or not labels.any():
        progress(f"{dataset}: no labelled anomaly in the training or held-out rows, skipped")
        return []
    levelled = train[train["level"].notna()]
    level = pipelines.level_classifier(seed).fit(levelled, levelled["level"].to_numpy())
    detector = pipelines.fit_anomaly_detector(train, level)
    unsupervised = severity_rarity(level).fit(train)
    forest = pipelines.isolation_forest(seed).fit(train)
    old = old_pipeline(seed).fit(train["message"].tolist(), labels)
    predictions = {
        f"model_export default ({type(detector[-1]).__name__})": pipelines.anomaly_outputs(
            detector, held_out, history=train
        ).is_anomaly,
        "model_export severity x rarity (no labels)": pipelines.anomaly_outputs(
            unsupervised, held_out, history=train
        ).is_anomaly,
        "model_export IsolationForest (no labels)": pipelines.anomaly_outputs(
            forest, held_out
        ).is_anomaly,
        'rule "FATAL means anomaly"': (held_out["level"] == "FATAL").to_numpy(),
        "old pipeline (TF-IDF 1000 + RandomForest 100)": old.predict(
            held_out["message"].tolist()
        ).astype(bool),
    }
    return [
        {"dataset": dataset, "method": method, "train": len(train), **anomaly_metrics(truth, p)}
        for method, p in predictions.items()
    ]


def _scratch(server: str) -> str:
    with connect(server, autocommit=True) as conn, conn.cursor() as cur:
        name = sql.Identifier(SCRATCH_DATABASE)
        cur.execute(sql.SQL("drop database if exists {} with (force)").format(name))
        cur.execute(sql.SQL("create database {}").format(name))
    params = psycopg2.extensions.parse_dsn(server)
    params["dbname"] = SCRATCH_DATABASE
    return psycopg2.extensions.make_dsn(**params)


def _load(url: str, *args: str) -> None:
    env = {**os.environ, "DATABASE_URL": url}
    for command in (["create-source"], ["load", *args]):
        subprocess.run(
            [sys.executable, "-m", "dbt_project", *command],
            env=env,
            cwd=PROJECT_ROOT,
            check=True,
            stdout=subprocess.DEVNULL,
        )


def datasets(server: str, loghub_dir: Path, generated_rows: int, seed: int):
    """(name, stg frame) for each loghub system, then for the generated logs."""
    url = _scratch(server)
    try:
        systems = sorted(p for p in loghub_dir.iterdir() if p.is_dir())
        _load(url, "loghub", *[str(p) for p in systems])
        ensure_staging(url, PROJECT_ROOT)
        frame = read_stg(url)
        for system in systems:
            yield system.name, frame[frame["service"] == system.name]
        with connect(url) as conn, conn.cursor() as cur:
            cur.execute("truncate log_entries")
        _load(
            url,
            "generate",
            "--rows",
            str(generated_rows),
            "--seed",
            str(seed),
            "--end",
            "2026-01-01T00:00:00+00:00",
        )
        yield f"generated ({generated_rows:,} rows)", read_stg(url)
    finally:
        with connect(server, autocommit=True) as conn, conn.cursor() as cur:
            cur.execute(
                sql.SQL("drop database if exists {} with (force)").format(
                    sql.Identifier(SCRATCH_DATABASE)
                )
            )


def markdown(levels: list[dict], anomalies: list[dict]) -> str:
    lines = [
        "### Level classifier (held-out newest 20% of each dataset)",
        "",
        "| dataset | method | train rows | held-out rows | macro F1 | per-class F1 |",
        "|---|---|---:|---:|---:|---|",
    ]
    for r in levels:
        per_class = ", ".join(f"{k} {v:.2f}" for k, v in r["f1"].items())
        lines.append(
            f"| {r['dataset']} | {r['method']} | {r['train']} | {r['rows']} |"
            f" {r['macro_f1']:.3f} | {per_class} |"
        )
    lines += [
        "",
        "### Anomalies (held-out newest 20%, datasets with line labels)",
        "",
        "| dataset | method | held-out rows | anomalies | flagged | precision | recall | F1 |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in anomalies:
        lines.append(
            f"| {r['dataset']} | {r['method']} | {r['rows']} | {r['positives']} |"
            f" {r['flagged']} | {r['precision']:.3f} | {r['recall']:.3f} | {r['f1']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def evaluate(url: str, args: argparse.Namespace) -> int:
    levels: list[dict] = []
    anomalies: list[dict] = []
    for name, frame in datasets(url, args.loghub_dir, args.generated_rows, args.seed):
        progress(f"evaluating {name}")
        levels += level_rows(name, frame, args.seed)
        anomalies += anomaly_rows(name, frame, args.seed)
    table = markdown(levels, anomalies)
    print(table)
    if args.output:
        args.output.write_text(table, encoding="utf-8")
    evaluation = json.dumps({"evaluation": {"level": levels, "anomaly": anomalies}})
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute("select to_regclass('ml.ml_model_registry')")
        if cur.fetchone()[0] is not None:
            cur.execute(
                "update ml.ml_model_registry set metrics = metrics || %s::jsonb where is_active",
                (evaluation,),
            )
            progress(f"stored in the metrics of {cur.rowcount} active registry rows")
    return 0
