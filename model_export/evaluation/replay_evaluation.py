"""The replay part of `make evaluate` (issue 21, item 4): the product as an on-call engineer
lives it, judged against labels it never saw.

Datasets: generated logs (GENERATED_ROWS lines over GENERATED_DAYS days, one per seed of
GENERATED_SEEDS: the demo's 42 and two others), trained on the first TRAIN_DAYS days; and every
loghub system whose lines carry labels (a Label column: BGL among the samples), trained on its
oldest 80%. Each is loaded by the project's loader into a scratch database, its labels are
cleared there and kept aside, and the rest is replayed run by run through the real product
(model_export.evaluation.replay).

Per dataset and method (the product's ml_alerts with ml_predictions' line flags, and its
ml_incidents with the lines of ml_incident_lines; the FATAL rule;
errors per service-hour above mean + 3 sigma: model_export.evaluation.rule_baselines), over the
replayed days: the labelled incidents alerted (and in which run: model_export.evaluation.
incidents), false alerts per day, and line precision / recall / F1; for the loghub systems also
the line F1 over forward-chaining folds (evaluate.py's folds, given to the tables). No constant
here or in the incident logic is tuned on these days.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import psycopg

from dbt_project.database import connect
from dbt_project.scratch import scratch_database
from model_export.evaluation.incidents import AlertFigures, Incident, alert_figures
from model_export.evaluation.incidents import labelled_incidents as find_incidents
from model_export.evaluation.replay import (
    FAST,
    RUN,
    Replay,
    ReplayError,
    Run,
    Selection,
    load_logs,
    product_table,
    working_copy,
)
from model_export.evaluation.rule_baselines import (
    ERROR_HOURS_RULE,
    FATAL_RULE,
    error_hours,
    fatal_lines,
)
from model_export.progress import progress
from model_export.training.data import HOLDOUT_FRACTION, read_stg
from model_export.training.metrics import anomaly_metrics

SCRATCH_DATABASE = "logml_evaluate_replay"
GENERATED_END = "2026-01-01T00:00:00+00:00"
GENERATED_ROWS = 200_000
GENERATED_DAYS = 7
TRAIN_DAYS = 4
GENERATED_SEEDS = (42, 7, 2026)
FIGURE_COLUMNS = ["log_entry_id", "logged_at", "service", "level", "is_anomaly_label"]


@dataclass(frozen=True)
class ReplayDataset:
    """A dataset to replay: the loader's arguments, and where its replay starts."""

    name: str
    short: str  # in the targets' table
    load: tuple[str, ...]  # python -m ingest ...
    train_days: int | None  # the first days train; None: the oldest 80% of the lines
    loghub: bool


def generated_datasets(rows: int, seeds: Sequence[int]) -> list[ReplayDataset]:
    return [
        ReplayDataset(
            f"generated seed {seed} ({rows:,} lines, {GENERATED_DAYS} days)",
            f"seed {seed}",
            ("generate", "--rows", str(rows), "--seed", str(seed), "--end", GENERATED_END),
            TRAIN_DAYS,
            loghub=False,
        )
        for seed in seeds
    ]


def labelled_loghub_datasets(loghub_dir: Path, systems: list[str] | None) -> list[ReplayDataset]:
    """The loghub systems whose structured CSV labels every line (a Label column)."""
    found = []
    for folder in sorted(p for p in loghub_dir.iterdir() if p.is_dir()):
        csvs = sorted(folder.glob("*_structured.csv"))
        if systems is not None and folder.name not in systems or not csvs:
            continue
        header = csvs[0].open(encoding="utf-8").readline().strip().split(",")
        if "Label" in header:
            found.append(
                ReplayDataset(folder.name, folder.name, ("loghub", str(folder)), None, True)
            )
    return found


def product_method(table: str) -> str:
    """The method a product table's figures go by, named with the table its line flags come
    from."""
    return f"logml {table} (lines: {product_table(table).line_table})"


@dataclass(frozen=True)
class MethodResult:
    method: str
    alerts: AlertFigures
    lines: dict[str, object]  # anomaly_metrics over the replayed lines


@dataclass(frozen=True)
class DatasetResult:
    dataset: str
    short: str
    loghub: bool
    lines: int
    replayed_lines: int
    runs: list[Run]  # the scheduled runs that brought lines (one dbt run each)
    incidents: list[Incident]
    methods: list[MethodResult]
    seconds: dict[str, float]
    # the stg lines with their labels back: every column for a loghub system (its forward
    # chaining trains on them), the ones the figures read for generated logs
    labelled: pd.DataFrame

    def method(self, name: str) -> MethodResult:
        return next(m for m in self.methods if m.method == name)

    def summary(self) -> dict[str, object]:
        """The figures as JSON (the registry keeps them beside the other evaluations)."""
        return {
            "dataset": self.dataset,
            "lines": self.lines,
            "replayed_lines": self.replayed_lines,
            "runs": len(self.runs),
            "incidents": len(self.incidents),
            "seconds": {k: round(v, 1) for k, v in self.seconds.items()},
            "methods": {
                m.method: {
                    "delays": list(m.alerts.delays),
                    "raised": m.alerts.raised,
                    "false_kinds": m.alerts.false_kinds,
                    "days": m.alerts.days,
                    "lines": m.lines,
                }
                for m in self.methods
            },
        }


def _cutoff(truth: pd.DataFrame, dataset: ReplayDataset) -> pd.Timestamp:
    """Where the replay starts: after the first train_days days, or at the oldest line of the
    newest 20% (the time split of training.data)."""
    ordered = truth.sort_values(["logged_at", "log_entry_id"], kind="stable")
    if dataset.train_days is not None:
        start = ordered["logged_at"].iloc[0].floor("D")
        return start + pd.Timedelta(days=dataset.train_days)
    return ordered["logged_at"].iloc[int(round(len(ordered) * (1.0 - HOLDOUT_FRACTION)))]


def replay_dataset(
    url: str, project_dir: Path, dataset: ReplayDataset, seed: int, selection: Selection = FAST
) -> DatasetResult:
    """In an empty database and a copy of the project: load, hide the labels, train on the
    first part, replay the rest; the figures."""
    load_logs(url, *dataset.load)
    with connect(url) as conn:
        return _replayed(conn, project_dir, dataset, seed, selection)


def _replayed(
    conn: psycopg.Connection,
    project_dir: Path,
    dataset: ReplayDataset,
    seed: int,
    selection: Selection,
) -> DatasetResult:
    replay = Replay(conn, project_dir, selection)
    truth = replay.hide_labels()
    cutoff = _cutoff(truth, dataset)
    held = replay.hold_back(cutoff)
    progress(f"replay {dataset.name}: training on the {len(truth) - held} lines before {cutoff}")
    replay.train(seed)
    runs = []
    for run in replay.runs():
        runs.append(run)
        progress(
            f"replay {dataset.name}: run {len(runs)} ({run.lines} lines, {run.seconds:.0f} s):"
            f" {len(run.raised)} raised"
        )
    if not runs:
        raise ReplayError(f"{dataset.name}: no line after {cutoff} to replay")
    lines = read_stg(conn).drop(columns=["is_anomaly_label", "anomaly_type"])
    labelled = lines.merge(
        truth[["log_entry_id", "is_anomaly", "anomaly_type"]], on="log_entry_id", how="left"
    ).rename(columns={"is_anomaly": "is_anomaly_label"})
    end = (runs[-1].index + 1) * RUN + pd.Timestamp(0, tz="UTC")
    days = (end - cutoff) / pd.Timedelta(days=1)
    return _figures(dataset, labelled, cutoff, days, replay, runs)


def _figures(
    dataset: ReplayDataset,
    labelled: pd.DataFrame,
    cutoff: pd.Timestamp,
    days: float,
    replay: Replay,
    runs: list[Run],
) -> DatasetResult:
    replayed = (pd.to_datetime(labelled["logged_at"], utc=True) >= cutoff).to_numpy()
    test = labelled[replayed]
    truth = test["is_anomaly_label"].eq(True).to_numpy()
    incidents = find_incidents(test.rename(columns={"is_anomaly_label": "is_anomaly"}))
    methods = [
        MethodResult(
            product_method(table),
            alert_figures(incidents, found, days),
            anomaly_metrics(truth, test["log_entry_id"].isin(replay.line_flags(table)).to_numpy()),
        )
        for table, found in replay.raised().items()
    ]
    for name, rule in ((FATAL_RULE, fatal_lines), (ERROR_HOURS_RULE, error_hours)):
        output = rule(labelled, cutoff)
        methods.append(
            MethodResult(
                name,
                alert_figures(incidents, output.raised, days),
                anomaly_metrics(truth, output.flagged[replayed]),
            )
        )
    return DatasetResult(
        dataset.name,
        dataset.short,
        dataset.loghub,
        len(labelled),
        len(test),
        runs,
        incidents,
        methods,
        dict(replay.seconds),
        labelled if dataset.loghub else labelled[FIGURE_COLUMNS],
    )


def replay_all(
    server: str,
    loghub_dir: Path,
    systems: list[str] | None,
    rows: int = GENERATED_ROWS,
    seeds: Sequence[int] = GENERATED_SEEDS,
    seed: int = 42,
) -> list[DatasetResult]:
    """Every generated seed, then every labelled loghub system, each in a scratch database and
    a working copy of the project."""
    results = []
    for dataset in generated_datasets(rows, seeds) + labelled_loghub_datasets(loghub_dir, systems):
        with (
            scratch_database(SCRATCH_DATABASE, server) as url,
            tempfile.TemporaryDirectory(prefix="logml_replay_") as scratch,
        ):
            results.append(replay_dataset(url, working_copy(Path(scratch)), dataset, seed))
    return results
