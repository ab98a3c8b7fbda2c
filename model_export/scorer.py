"""One model version's scoring macro: the level classifier and the anomaly detector of the
version compiled together into one macro `ml_score_<version>(batch)` that returns, per row of
`batch`, every output column ml_predictions stores. One macro per version is what makes a
version switch a configuration change: every kept version's SQL stays in the project."""

from __future__ import annotations

from sklearn.pipeline import Pipeline

from model_export.compiler import LEVEL_OUTPUTS, Compiled, compile_pipeline

SCORE_COLUMNS = (
    "log_entry_id",
    "predicted_level",
    "level_confidence",
    "level_explanation",
    "is_anomaly",
    "anomaly_score",
    "anomaly_confidence",
    "anomaly_explanation",
)


def scorer_name(version: str) -> str:
    return f"ml_score_{version}"


def compile_scorer(level: Pipeline, detector: Pipeline, version: str) -> Compiled:
    """Both pipelines of `version` as one macro; their seeds are suffixed with the version."""
    suffix = f"_{version}"
    levels = compile_pipeline(level, "ml_level_classifier", LEVEL_OUTPUTS, suffix)
    anomalies = compile_pipeline(detector, "ml_anomaly_detector", seed_suffix=suffix)
    body = f"""with

levels as (
{levels.body}
),

anomalies as (
{anomalies.body}
)

select
    levels.log_entry_id,
    levels.predicted_level,
    levels.level_confidence,
    levels.level_explanation,
    anomalies.is_anomaly,
    anomalies.anomaly_score,
    anomalies.anomaly_confidence,
    anomalies.anomaly_explanation
from levels
inner join anomalies on levels.log_entry_id = anomalies.log_entry_id"""
    return Compiled(scorer_name(version), body, levels.seeds + anomalies.seeds)
