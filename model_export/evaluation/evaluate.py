"""`evaluate`: quality that can tell models apart. Every dataset (each loghub system, loaded
by the project's loader into a scratch database, and generated logs) is split by time in two
ways: the 80/20 split (oldest 80% train, newest 20% test) and forward chaining (train on the
oldest k x 10%, test on the next 10%, k = 5..9; the figure is the mean over the five folds).
Every method is trained on the training part only and scored on the test part only.

Levels: the level classifier as export trains it (level_selection: the candidate chosen on a
validation split inside the training window), against the majority class and the old system's
pipeline (TF-IDF 1000 terms + RandomForest 100 trees on raw messages) with several seeds;
macro-F1 over the levels in the test part and over those with at least MIN_SUPPORT (metrics),
and the level model's difference to the old pipeline with a paired bootstrap interval.
Anomalies: the default detector (pipelines.fit_anomaly_detector / anomaly_outputs, trained
without labels, and with them where the dataset has line labels) against the rule "FATAL
means anomaly", errors per service-hour above mean + 3 sigma (rule_baselines) and the old
pipeline trained on the labels: the share of test lines flagged, and precision / recall / F1
where the test lines carry labels. A system never seen in training: each loghub system held out
in turn from the default detector's training (unseen_system). The product as it runs: generated
logs and the labelled loghub systems replayed run by run through export and dbt, incidents and
alerts against the labels (replay_evaluation; --replay-only runs only that part), and issue
21's targets stated as met or missed (replay_report).

The figures are printed, written as a report page (evaluation.report), stored in the registry
entries of the active version, and can replace the generated section of the docs site's
results page (docs/results/quality.md).
"""

from __future__ import annotations

import argparse
import json
import warnings
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
from psycopg import sql
from sklearn.ensemble import RandomForestClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import precision_recall_curve
from sklearn.pipeline import Pipeline

from dbt_project.database import (
    PROJECT_ROOT,
    job_connection,
    output_table,
    source_table,
    url_of,
)
from dbt_project.scratch import scratch_database
from model_export.evaluation import report as evaluation_report
from model_export.evaluation import rule_baselines
from model_export.evaluation.grouping import grouping_table, loghub_groupings
from model_export.evaluation.replay import load_logs
from model_export.evaluation.replay_evaluation import (
    GENERATED_END,
    DatasetResult,
    product_method,
    replay_all,
)
from model_export.evaluation.replay_report import replay_tables
from model_export.evaluation.report import DETECTOR, SPLIT
from model_export.evaluation.unseen_system import unseen_systems
from model_export.progress import progress
from model_export.training import pipelines
from model_export.training.anomaly_detectors import training_history, with_history_in_runs
from model_export.training.data import ensure_staging, read_stg, time_split
from model_export.training.level_selection import select_level_classifier
from model_export.training.metrics import (
    anomaly_metrics,
    best_threshold_f1,
    frequent_levels_macro_f1,
    interval,
    resampled_macro_f1s,
    resampling_weights,
)
from model_export.training.templates import templates_of

SCRATCH_DATABASE = "logml_evaluate"
FOLDS = range(5, 10)  # forward chaining: train on the oldest k x 10%, test on the next 10%
OLD_SEEDS = (0, 1, 2)


def old_pipeline(seed: int) -> Pipeline:
    """The old system's model, as its users pickled it."""
    return Pipeline(
        [
            ("tfidf", TfidfVectorizer(max_features=1000, stop_words="english")),
            ("clf", RandomForestClassifier(n_estimators=100, random_state=seed, n_jobs=1)),
        ]
    )


def splits(frame: pd.DataFrame) -> Iterator[tuple[str, pd.DataFrame, pd.DataFrame]]:
    """("80/20", train, test), then ("fc k", train, test) for each forward-chaining fold."""
    ordered = frame.sort_values(["logged_at", "log_entry_id"], kind="stable")
    yield (SPLIT, *time_split(ordered))
    n = len(ordered)
    for k in FOLDS:
        cut, end = round(n * k / 10), round(n * (k + 1) / 10)
        yield f"fc {k}", ordered.iloc[:cut], ordered.iloc[cut:end]


def _macro_f1s(truth: np.ndarray, predicted: np.ndarray) -> dict[str, float | None]:
    frequent, plain = frequent_levels_macro_f1(truth, predicted)
    return {"macro_f1": plain, "macro_f1_min_support": frequent}


def _difference_draws(
    truth: np.ndarray, model: np.ndarray, old: list[np.ndarray], seed: int
) -> dict[str, np.ndarray]:
    """Per macro-F1, bootstrap draws of (level model - the old pipeline's seed mean) on the
    same resampled test lines."""
    weights = resampling_weights(len(truth), seed)
    ours = resampled_macro_f1s(truth, model, weights)
    theirs = np.mean([resampled_macro_f1s(truth, o, weights) for o in old], axis=0)
    return dict(zip(("macro_f1_min_support", "macro_f1"), ours - theirs, strict=True))


def level_split(
    train: pd.DataFrame, test: pd.DataFrame, seed: int
) -> tuple[dict[str, object], dict[str, np.ndarray]] | None:
    """One split's level figures per method, and the bootstrap draws of the level model's
    difference to the old pipeline (None: fewer than two levels to learn, or no test line
    with a level)."""
    train, test = train[train["level"].notna()], test[test["level"].notna()]
    if train["level"].nunique() < 2 or test.empty:
        return None
    truth, y = test["level"].to_numpy(), train["level"].to_numpy()
    model, selection = select_level_classifier(train, seed)
    predicted = model.predict(test)
    majority = pd.Series(y).mode().iloc[0]
    old = [
        old_pipeline(s).fit(train["message"].tolist(), y).predict(test["message"].tolist())
        for s in OLD_SEEDS
    ]
    figures = {
        "test_levels": {
            str(k): int(v) for k, v in test["level"].value_counts().sort_index().items()
        },
        "model": _macro_f1s(truth, predicted),
        "chosen": selection["chosen"],
        "majority": _macro_f1s(truth, np.full(len(truth), majority, dtype=object)),
        "old": [_macro_f1s(truth, o) for o in old],
    }
    return figures, _difference_draws(truth, predicted, old, seed)


def versus_old(draws: dict[str, dict[str, np.ndarray]]) -> dict[str, dict[str, object]]:
    """Per macro-F1, the 95% bootstrap interval of (level model - old pipeline) at 80/20 and
    for the forward-chaining mean (each fold resampled on its own, the folds' draws
    averaged as the fc mean averages the folds)."""
    folds = [d for split, d in draws.items() if split != SPLIT]
    intervals: dict[str, dict[str, object]] = {}
    for metric in ("macro_f1", "macro_f1_min_support"):
        with warnings.catch_warnings():  # a resample with no frequent level in any fold: nan
            warnings.simplefilter("ignore", RuntimeWarning)
            fc = np.nanmean([d[metric] for d in folds], axis=0) if folds else np.array([np.nan])
        intervals[metric] = {
            SPLIT: interval(draws[SPLIT][metric]) if SPLIT in draws else None,
            "fc": interval(fc),
        }
    return intervals


# --- anomalies: the only place that touches the detector (its public functions) ---


def default_detector(
    train: pd.DataFrame, test: pd.DataFrame, level: Pipeline
) -> pipelines.AnomalyOutputs:
    """What export would ship for these training rows, applied to the test lines run by run
    (detector.with_history_in_runs: the training history plus the test's earlier runs)."""
    detector = pipelines.fit_anomaly_detector(train, level)
    counted = with_history_in_runs(
        test, training_history(detector), templates=templates_of(detector)
    )
    return pipelines.anomaly_outputs(detector, counted)


def _anomaly_figures(truth: np.ndarray | None, flagged: np.ndarray) -> dict[str, object]:
    figures: dict[str, object] = {"flagged_share": float(np.mean(flagged)) if len(flagged) else 0.0}
    if truth is not None:
        figures.update(anomaly_metrics(truth, flagged))
    return figures


def _ceiling(truth: np.ndarray | None, outputs: pipelines.AnomalyOutputs) -> dict[str, float]:
    """The best F1 any threshold on the detector's score reaches on these test lines, the
    threshold chosen on them: what the score can tell apart at best, not a result."""
    if truth is None:
        return {}
    decided = np.ones(len(truth), dtype=bool) if outputs.decided is None else outputs.decided
    return {"best_threshold_f1": best_threshold_f1(truth, outputs.score, decided)}


def anomaly_split(
    train: pd.DataFrame, test: pd.DataFrame, seed: int, curves: bool
) -> dict[str, object] | None:
    """One split's anomaly figures per method. Precision and recall where every test line
    carries a label; with curves, also the precision-recall curves of the detector's scores.
    None where export could not train (fewer than two known levels: no level model for the
    detector to read)."""
    levelled = train[train["level"].notna()]
    if test.empty or levelled["level"].nunique() < 2:
        return None
    level = pipelines.level_classifier(seed).fit(levelled, levelled["level"].to_numpy())
    truth = pipelines.anomaly_labels(test) if test["is_anomaly_label"].notna().all() else None
    unsupervised = default_detector(pipelines.without_labels(train), test, level)
    forest = pipelines.isolation_forest(seed).fit(train)
    fatal = pipelines.fatal_rule(test)
    # the service-hours before the test lines are their history
    error_hours = rule_baselines.error_hours(
        pd.concat([train, test], ignore_index=True), test["logged_at"].min()
    ).flagged[len(train) :]
    result: dict[str, object] = {
        DETECTOR: _anomaly_figures(truth, unsupervised.is_anomaly) | _ceiling(truth, unsupervised),
        rule_baselines.FATAL_RULE: _anomaly_figures(truth, fatal),
        rule_baselines.ERROR_HOURS_RULE: _anomaly_figures(truth, error_hours),
        "IsolationForest (the old default)": _anomaly_figures(
            truth, pipelines.anomaly_outputs(forest, test).is_anomaly
        ),
    }
    scores = {DETECTOR: unsupervised.score}
    if truth is not None and train["is_anomaly_label"].notna().any():
        supervised = default_detector(train, test, level)
        result["default (with labels)"] = _anomaly_figures(truth, supervised.is_anomaly)
        scores["default (with labels)"] = supervised.score
        labels = pipelines.anomaly_labels(train)
        result["old pipeline (labels)"] = [
            _anomaly_figures(
                truth,
                old_pipeline(s)
                .fit(train["message"].tolist(), labels)
                .predict(test["message"].tolist())
                .astype(bool),
            )
            for s in OLD_SEEDS
        ]
    if curves and truth is not None and truth.any():
        result["curves"] = {name: _curve(truth, score) for name, score in scores.items()}
    return result


def _curve(truth: np.ndarray, score: np.ndarray, points: int = 200) -> dict[str, list[float]]:
    """The precision-recall curve, at most `points` points (enough for a drawing)."""
    precision, recall, _ = precision_recall_curve(truth, score)
    keep = np.unique(np.linspace(0, len(recall) - 1, min(points, len(recall))).round().astype(int))
    return {
        "precision": precision[keep].round(4).tolist(),
        "recall": recall[keep].round(4).tolist(),
    }


# --- datasets ---


def datasets(
    server: str, loghub_dir: Path, generated_rows: int, seed: int, systems: list[str] | None
) -> Iterator[tuple[str, pd.DataFrame, bool]]:
    """(name, stg frame, whether it is a loghub system) for each loghub system, then for the
    generated logs."""
    with scratch_database(SCRATCH_DATABASE, server) as url:
        folders = sorted(p for p in loghub_dir.iterdir() if p.is_dir())
        folders = [p for p in folders if systems is None or p.name in systems]
        load_logs(url, "loghub", *[str(p) for p in folders])
        with job_connection(url) as conn:
            ensure_staging(conn, PROJECT_ROOT)
            frame = read_stg(conn)
            for folder in folders:
                yield folder.name, frame[frame["service"] == folder.name], True
            conn.execute(sql.SQL("truncate {}").format(source_table()))
            rows = ["--rows", str(generated_rows), "--seed", str(seed), "--end", GENERATED_END]
            load_logs(url, "generate", *rows)
            yield f"generated ({generated_rows:,} rows)", read_stg(conn), False


def evaluate_dataset(name: str, frame: pd.DataFrame, seed: int) -> dict[str, object]:
    levels, draws, anomalies = {}, {}, {}
    for split, train, test in splits(frame):
        progress(f"{name}: {split} ({len(train)} train, {len(test)} test)")
        if (found_levels := level_split(train, test, seed)) is not None:
            levels[split], draws[split] = found_levels
        if (found := anomaly_split(train, test, seed, curves=split == SPLIT)) is not None:
            anomalies[split] = found
    result = {"dataset": name, "rows": len(frame), "levels": levels, "anomalies": anomalies}
    if draws:
        result["levels_versus_old"] = versus_old(draws)
    return result


def forward_chaining_f1(
    replayed: DatasetResult, results: list[dict[str, object]], seed: int
) -> dict[str, float | None]:
    """Per replay method, the line F1 over the forward-chaining folds (mean): the folds
    evaluate_dataset scored when it ran on this system, else the same folds of the replay's
    labelled lines. The product's line flags are the default detector's (trained without
    labels); the compiled SQL gives the same flags as its Python (make verify)."""
    found = next((r["anomalies"] for r in results if r["dataset"] == replayed.dataset), None)
    if found is None:
        found = {
            split: figures
            for split, train, test in splits(replayed.labelled)
            if split != SPLIT and (figures := anomaly_split(train, test, seed, False)) is not None
        }
    assert isinstance(found, dict)
    folds = [figures for split, figures in found.items() if split != SPLIT]
    methods = {
        DETECTOR: product_method("ml_alerts"),
        rule_baselines.FATAL_RULE: rule_baselines.FATAL_RULE,
        rule_baselines.ERROR_HOURS_RULE: rule_baselines.ERROR_HOURS_RULE,
    }
    return {
        ours: float(np.mean(f1s)) if (f1s := [f[theirs]["f1"] for f in folds]) else None
        for theirs, ours in methods.items()
    }


def evaluate(conn: psycopg.Connection, args: argparse.Namespace) -> int:
    """The evaluation on scratch databases of the server of `conn`; stored in the registry of
    its database."""
    url = url_of(conn)
    results: list[dict[str, object]] = []
    systems = {}
    if not args.replay_only:
        for name, frame, loghub in datasets(
            url, args.loghub_dir, args.generated_rows, args.seed, args.systems
        ):
            results.append(evaluate_dataset(name, frame, args.seed))
            if loghub:
                systems[name] = frame
    unseen = unseen_systems(systems, args.seed) if len(systems) > 1 else []
    groupings = loghub_groupings(systems, args.loghub_dir)
    replays = replay_all(
        url, args.loghub_dir, args.systems, args.replay_rows, args.replay_seeds, args.seed
    )
    forward_chaining = {
        r.dataset: forward_chaining_f1(r, results, args.seed) for r in replays if r.loghub
    }
    extra = replay_tables(replays, forward_chaining, unseen, groupings)
    extra += [grouping_table(groupings)] if groupings else []
    command = "make evaluate" if args.systems is None else "python -m model_export evaluate"
    if args.replay_only:
        command = "python -m model_export evaluate --replay-only"
    markdown = evaluation_report.markdown(results, command, unseen, extra)
    print(markdown)
    if args.output:
        args.output.write_text(markdown, encoding="utf-8")
    if args.report:
        args.report.write_text(
            evaluation_report.html(results, command, unseen, extra), encoding="utf-8"
        )
        progress(f"report page: {args.report}")
    if args.page:
        evaluation_report.replace_generated_section(args.page, markdown)
        progress(f"tables of {args.page} regenerated")
    figures: dict[str, object] = {"replay": [r.summary() for r in replays]}
    if not args.replay_only:  # a replay alone leaves the other figures stored as they were
        figures |= {
            "evaluation": results,
            "unseen_systems": unseen,
            "template_grouping": [asdict(g) for g in groupings],
        }
    evaluation = json.dumps(figures)
    stored = conn.execute(
        sql.SQL(
            "update {} set metrics = metrics || %s::jsonb where is_active"
            " and model_kind = 'default'"
        ).format(output_table("ml_model_registry")),
        (evaluation,),
    )
    progress(f"stored in the metrics of {stored.rowcount} active registry rows")
    return 0
