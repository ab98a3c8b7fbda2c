"""The model lifecycle end to end (issue 7), on the real database with the real dbt: train v1
and score; train v2 as the challenger and both score the new logs; the comparison table fills;
promote v2; roll back to v1. No step after the two exports retrains (the registry and the
artifacts do not change) and no prediction is ever lost or rewritten."""

from __future__ import annotations

from pathlib import Path

import pytest

from dbt_project.database import connect
from dev.db import scalar
from dev.pipeline import (
    cli,
    dbt,
    export,
    load_generated,
    model_export,
    model_export_args,
    run_module,
)
from ingest.source_table import create_source_table

# Each load ends later than the previous one, as new logs do.
FIRST_END, SECOND_END = "2026-11-20T12:00:00+00:00", "2026-11-21T12:00:00+00:00"
THIRD_END, FOURTH_END = "2026-11-22T12:00:00+00:00", "2026-11-23T12:00:00+00:00"

# Every prediction as a row of text: compared before and after, nothing may change.
PREDICTIONS = """
select model_version, log_entry_id, concat_ws('|', predicted_level, level_confidence,
    is_anomaly, anomaly_score, anomaly_confidence, severity, predicted_at)
from ml.ml_predictions
"""


def predictions(url: str) -> dict[tuple[str, int], str]:
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute(PREDICTIONS)
        return {(version, log): row for version, log, row in cur.fetchall()}


def scored_ids(url: str, version: str) -> set[int]:
    rows = scalar(
        url,
        "select coalesce(array_agg(log_entry_id), '{}') from ml.ml_predictions"
        " where model_version = %s",
        (version,),
    )
    return set(rows)


def stg_ids(url: str, newer_than: int = 0) -> set[int]:
    rows = scalar(
        url,
        "select coalesce(array_agg(log_entry_id), '{}') from ml.stg_log_entries"
        " where log_entry_id > %s",
        (newer_than,),
    )
    return set(rows)


def frozen(url: str, artifacts: Path) -> tuple[object, ...]:
    """What a retrain would change: registry rows and the artifact files."""
    registry = scalar(
        url,
        "select string_agg(concat_ws('|', model_version, model_name, trained_at, metrics,"
        " artifact_path), ',' order by model_version, model_name) from ml.ml_model_registry",
    )
    files = sorted((p.relative_to(artifacts), p.stat().st_mtime_ns) for p in artifacts.rglob("*"))
    return registry, tuple(files)


@pytest.mark.slow
def test_train_challenge_promote_and_roll_back(module_db: str, dbt_project_copy: Path) -> None:
    url, project = module_db, dbt_project_copy
    artifacts = project / "artifacts"
    create_source_table(url)

    # v1 trains and scores everything
    load_generated(url, 3000, seed=11, end=FIRST_END)
    export(url, project)
    dbt(project, url, "build")
    assert scored_ids(url, "v1") == stg_ids(url)

    # v2 trains as the challenger; both score the new logs, v2 only those
    watermark = max(stg_ids(url))
    load_generated(url, 1000, seed=12, end=SECOND_END)
    out = export(url, project, "--challenger", "--limit", "2000")
    assert "v2 registered as the challenger" in out
    assert (project / "macros" / "generated" / "v1" / "ml_score_v1.sql").is_file()
    dbt(project, url, "build")
    new_logs = stg_ids(url, watermark)
    assert len(new_logs) == 1000
    assert scored_ids(url, "v1") == stg_ids(url)
    assert scored_ids(url, "v2") == new_logs
    assert scalar(url, "select active_model_version from ml.ml_status") == "v1"

    # the comparison table covers exactly the logs both scored
    compared = scalar(
        url,
        "select sum(logs_compared) from ml.ml_model_comparison"
        " where baseline_version = 'v1' and candidate_version = 'v2'",
    )
    assert compared == 1000
    agreement = scalar(
        url,
        "select sum(level_agreement * logs_compared) / sum(logs_compared)"
        " from ml.ml_model_comparison where baseline_version = 'v1'",
    )
    recount = scalar(
        url,
        "select avg((a.predicted_level = b.predicted_level)::int) from ml.ml_predictions as a"
        " join ml.ml_predictions as b using (log_entry_id)"
        " where a.model_version = 'v1' and b.model_version = 'v2'",
    )
    assert agreement == pytest.approx(float(recount))

    # from here on nothing retrains and nothing already scored changes
    before = frozen(url, artifacts)
    history = predictions(url)

    assert "v2 is active (was v1)" in model_export(url, project, "promote")
    watermark = max(stg_ids(url))
    load_generated(url, 500, seed=13, end=THIRD_END)
    dbt(project, url, "build")
    assert scalar(url, "select active_model_version from ml.ml_status") == "v2"
    assert scored_ids(url, "v2") == new_logs | stg_ids(url, watermark)
    assert max(scored_ids(url, "v1")) == watermark  # v1 is retired: it scored nothing new
    after_promote = predictions(url)
    assert {key: after_promote[key] for key in history} == history

    assert "v1 is active (was v2)" in model_export(url, project, "rollback")
    watermark = max(stg_ids(url))
    load_generated(url, 500, seed=14, end=FOURTH_END)
    dbt(project, url, "build")
    assert scalar(url, "select active_model_version from ml.ml_status") == "v1"
    # v1 catches up on the logs v2 scored while it was active, and scores the new ones
    assert scored_ids(url, "v1") == stg_ids(url)
    assert max(scored_ids(url, "v2")) == watermark
    final = predictions(url)
    assert {key: final[key] for key in after_promote} == after_promote
    assert frozen(url, artifacts) == before

    # v2's predictions are still exactly what its Pipelines say
    out = cli(url, "model_export", "verify", "--from-predictions", "--version", "v2", "--rows", "0")
    assert out.strip().splitlines()[-1] == "EXACT"

    # one more rollback has nowhere to go: v1 was the first active version
    done = run_module(url, "model_export", "rollback", *model_export_args(url, project))
    assert done.returncode != 0 and "no version was active before v1" in done.stderr
