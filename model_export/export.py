"""`export`: train on stg_log_entries, evaluate on the held-out newest rows, save the joblib
Pipelines, compile them into the dbt project (macros/generated/vN/, seeds/generated/vN/; the
files of earlier versions stay) and register the version, active or as the challenger.
`check`: regenerate every version's generated files from its saved artifacts and diff (the
bring-your-own models' too: lifecycle/byo_versions.py exports those).

The exported models are the ones fitted on the oldest 80% of the rows and evaluated on the
newest 20%, so the registry's metrics describe exactly the models that score in dbt.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import joblib
import pandas as pd
import psycopg
import sklearn
from sklearn.pipeline import Pipeline

from dbt_project.database import output_name
from dbt_project.errors import InputError, NotReadyError
from dbt_project.source import configured
from model_export.compiler.project_files import generated_paths, rendered_files, write_files
from model_export.compiler.scorer import compile_scorer
from model_export.lifecycle import versions
from model_export.lifecycle.artifacts import load_pipeline
from model_export.lifecycle.byo_versions import byo_version_files
from model_export.lifecycle.model_card import write_card
from model_export.lifecycle.registry import Entry, register, registered_versions
from model_export.progress import progress
from model_export.training import pipelines
from model_export.training.anomaly_detectors import TemplateLabels
from model_export.training.data import Window, ensure_staging, fingerprint, read_stg, time_split
from model_export.training.labels import Label, carry_over, user_labels
from model_export.training.level_selection import select_level_classifier
from model_export.training.metrics import anomaly_metrics, level_metrics
from model_export.training.templates import templates_of

LEVEL_MODEL = "level_classifier"
ANOMALY_MODEL = "anomaly_detector"


def version_files(version: str, level: Pipeline, detector: Pipeline) -> dict[Path, str]:
    """The generated scoring macro and seeds of one exported version (its own folders)."""
    compiled = compile_scorer(level, detector, versions.scorer_names(version))
    return rendered_files([compiled], versions.macro_folder(version), versions.seed_folder(version))


def saved_version_files(artifacts_dir: Path, version: str) -> dict[Path, str]:
    folder = versions.artifacts_folder(artifacts_dir, version)
    return version_files(
        version,
        load_pipeline(folder / f"{LEVEL_MODEL}.joblib"),
        load_pipeline(folder / f"{ANOMALY_MODEL}.joblib"),
    )


def _fit_level(train: pd.DataFrame, held_out: pd.DataFrame, seed: int) -> tuple[Pipeline, dict]:
    try:
        model, selection = select_level_classifier(train, seed)
    except ValueError as error:
        raise InputError(str(error)) from None
    scored = held_out[held_out["level"].notna()]
    predicted = model.predict(scored) if len(scored) else scored["level"].to_numpy()
    return model, {**level_metrics(scored["level"].to_numpy(), predicted), "selection": selection}


def _fit_detector(
    train: pd.DataFrame, held_out: pd.DataFrame, level: Pipeline, user: list[Label]
) -> tuple[object, dict]:
    model = pipelines.fit_anomaly_detector(train, level, user)
    learned = templates_of(model)
    metrics: dict[str, object] = {
        "detector": type(model[-1]).__name__,
        # which template assignment the version counts its history by (model_card.json too)
        "templates": learned.summary(),
    }
    if isinstance(model[-1], TemplateLabels):
        kinds = list(model[-1].labels_.values())
        metrics.update(labelled_templates=len(kinds), anomalous_templates=sum(kinds))
    if len(held_out):
        # the held-out lines follow the training lines: those are their history
        flagged = pipelines.anomaly_outputs(model, held_out, history=train).is_anomaly
        metrics["held_out_anomaly_rate"] = float(flagged.mean())
        if held_out["is_anomaly_label"].notna().any():
            metrics.update(anomaly_metrics(pipelines.anomaly_labels(held_out), flagged))
    return model, metrics


def export(
    conn: psycopg.Connection,
    project_dir: Path,
    artifacts_dir: Path,
    window: Window,
    seed: int,
    challenger: bool = False,
) -> str:
    """Train, save, compile, register (active, or as the challenger); returns the version."""
    started = time.monotonic()
    ensure_staging(conn, project_dir)
    stg = output_name("stg_log_entries")
    progress(f"reading {stg}")
    frame = read_stg(conn, window)
    if len(frame) < 10:
        raise NotReadyError(f"only {len(frame)} rows in {stg}: load logs first")
    train, held_out = time_split(frame)
    progress(f"{len(frame)} rows: training on {len(train)}, held out {len(held_out)} (newest)")
    level, level_scores = _fit_level(train, held_out, seed)
    progress(
        f"level classifier {level_scores['selection']['chosen']!r} (chosen on validation inside"
        f" the training window): held-out macro F1 {level_scores['macro_f1']:.3f}"
    )
    detector, detector_scores = _fit_detector(train, held_out, level, user_labels(conn))
    progress(f"anomaly detector: {detector_scores['detector']}")
    trained_at = datetime.now(UTC)
    # The artifacts and the project may hold versions of another database's registry: skip
    # them, a version is never overwritten.
    taken = [*versions.saved(artifacts_dir), *versions.compiled(project_dir)]
    version = versions.next_version(registered_versions(conn), taken)
    target = versions.artifacts_folder(artifacts_dir, version).resolve()
    target.mkdir(parents=True)
    paths = {LEVEL_MODEL: target / f"{LEVEL_MODEL}.joblib"}
    paths[ANOMALY_MODEL] = target / f"{ANOMALY_MODEL}.joblib"
    joblib.dump(level, paths[LEVEL_MODEL])
    joblib.dump(detector, paths[ANOMALY_MODEL])
    progress(f"compiling {version} to SQL in {project_dir}")
    write_files(project_dir, version_files(version, level, detector))
    write_files(project_dir, versions.listing(project_dir))
    start, end = frame["logged_at"].min(), frame["logged_at"].max()
    common = {
        "trained_at": trained_at,
        "training_rows": len(train),
        "window_start": start.to_pydatetime(),
        "window_end": end.to_pydatetime(),
        "sklearn_version": sklearn.__version__,
    }
    entries = [
        Entry(LEVEL_MODEL, metrics=level_scores, artifact_path=str(paths[LEVEL_MODEL]), **common),
        Entry(
            ANOMALY_MODEL,
            metrics=detector_scores,
            artifact_path=str(paths[ANOMALY_MODEL]),
            **common,
        ),
    ]
    write_card(target, version, window, fingerprint(conn, window), entries)
    register(conn, version, entries, configured(project_dir).identity, challenger=challenger)
    if carried := carry_over(conn, templates_of(detector)):
        progress(f"{carried} template labels carried over to {version}'s templates")
    role = "the challenger" if challenger else "active"
    progress(f"{version} registered as {role} ({time.monotonic() - started:.1f} s)")
    return version


def check(project_dir: Path, artifacts_dir: Path) -> list[str]:
    """Differences between the generated files and a regeneration from the artifacts: every
    version compiled in the project, the default pair's and the bring-your-own models'."""
    # None: a file of a version whose artifacts are elsewhere (reported once, not diffed)
    expected: dict[Path, str | None] = dict(versions.listing(project_dir))
    problems = []
    for version in [*versions.compiled(project_dir), *versions.compiled_byo(project_dir)]:
        folder = versions.artifacts_folder(artifacts_dir, version)
        if folder.is_dir():
            regenerate = byo_version_files if versions.byo_model(version) else saved_version_files
            expected.update(regenerate(artifacts_dir, version))
            continue
        problems.append(f"artifacts of {version} not found in {folder}")
        own = (versions.macro_folder(version), versions.seed_folder(version))
        expected.update(
            {p: None for p in generated_paths(project_dir) if any(p.is_relative_to(f) for f in own)}
        )
    for relative, content in sorted(expected.items()):
        path = project_dir / relative
        if not path.exists():
            problems.append(f"missing: {relative}")
        elif content is not None and path.read_text(encoding="utf-8") != content:
            problems.append(f"differs from its regeneration: {relative}")
    for relative in sorted(generated_paths(project_dir) - set(expected)):
        problems.append(f"not produced by any artifact: {relative}")
    return problems
