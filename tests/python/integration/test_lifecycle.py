"""The model lifecycle end to end (issue 7), on the real database with the real dbt: train v1
and score; train v2 as the challenger and both score the new logs; the comparison table fills;
promote v2; roll back to v1. No step after the two exports retrains (the registry and the
artifacts do not change) and no prediction is ever lost or rewritten. The API names the active
version the registry names right after each role change, before any dbt run; `versions` tells
a version trained here from the shipped one."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from dbt_project.database import PROJECT_ROOT, connect, job_connection
from dbt_project.source import configured
from dev.api_server import client as api_client
from dev.db import fetch_all, scalar
from dev.pipeline import (
    cli,
    create_source,
    dbt,
    export,
    load_generated,
    model_export,
    model_export_args,
    run_module,
)
from model_export.lifecycle import versions
from model_export.lifecycle.model_card import CARD, register_from_card

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


def api_views(url: str) -> dict[str, Any]:
    """What the API says is active, and the status counts it serves with it."""
    with api_client(url) as client:
        status = client.get("/api/v1/status").json()
        legacy = client.get("/api/ml_lightweight", params={"action": "status"}).json()
        models = client.get("/api/v1/models").json()
    roles = {v["model_version"]: v["role"] for v in models["versions"]}
    return {
        "status": status["active_model_version"],
        "legacy": legacy["active_model_version"],
        "models": [version for version, role in roles.items() if role == "active"],
        "active_models": sorted({m["model_version"] for m in models["models"] if m["is_active"]}),
        "status_total": status["total_predictions"],
        "legacy_total": legacy["total_predictions"],
    }


def versions_lines(url: str, project: Path) -> dict[str, str]:
    """`make versions` (python -m model_export versions): version -> its line."""
    out = model_export(url, project, "versions")
    return {line.split()[0]: line for line in out.strip().splitlines()}


def assert_versions_lines(url: str, project: Path, roles: dict[str, str]) -> None:
    """Versions trained here show as trained, when the registry says; the anomaly figure is a
    held-out F1 only when labelled anomalies were held out."""
    lines = versions_lines(url, project)
    assert set(lines) == set(roles)
    for version, role in roles.items():
        trained, metrics = fetch_all(
            url,
            "select trained_at, metrics from ml.ml_model_registry"
            " where model_version = %s and model_name = 'anomaly_detector'",
            (version,),
        )[0]
        when = f"{trained.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
        assert re.match(rf"{version}\s+{role}\s+trained {when} on \d+ rows", lines[version])
        anomalies = lines[version].split("; anomalies ")[1]
        if metrics.get("positives"):
            assert f"held-out F1 {metrics['f1']:.3f}" in anomalies
        else:
            assert "no F1" in anomalies and "F1 0." not in anomalies


@pytest.mark.slow
def test_train_challenge_promote_and_roll_back(module_db: str, dbt_project_copy: Path) -> None:
    url, project = module_db, dbt_project_copy
    artifacts = project / "artifacts"
    create_source(url)

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
    assert_versions_lines(url, project, {"v1": "active", "v2": "challenger"})

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

    before_promote = api_views(url)
    assert (before_promote["status"], before_promote["models"]) == ("v1", ["v1"])
    assert "v2 is active (was v1)" in model_export(url, project, "promote")
    # No dbt run yet: status and models agree at once on v2, and the status counts are v2's
    # (it scored the new logs as the challenger), not v1's
    seen = api_views(url)
    assert (seen["status"], seen["legacy"], seen["models"]) == ("v2", "v2", ["v2"])
    assert seen["active_models"] == ["v2"]
    assert seen["status_total"] == seen["legacy_total"] == len(new_logs)
    assert seen["status_total"] != before_promote["status_total"]
    watermark = max(stg_ids(url))
    load_generated(url, 500, seed=13, end=THIRD_END)
    dbt(project, url, "build")
    assert scalar(url, "select active_model_version from ml.ml_status") == "v2"
    assert scored_ids(url, "v2") == new_logs | stg_ids(url, watermark)
    assert max(scored_ids(url, "v1")) == watermark  # v1 is retired: it scored nothing new
    after_promote = predictions(url)
    assert {key: after_promote[key] for key in history} == history

    assert "v1 is active (was v2)" in model_export(url, project, "rollback")
    # again at once: v1 with the counts of the last run (it was retired then, and counted)
    seen = api_views(url)
    assert (seen["status"], seen["legacy"], seen["models"]) == ("v1", "v1", ["v1"])
    assert seen["status_total"] == seen["legacy_total"] == len(scored_ids(url, "v1"))
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


def test_versions_shows_the_shipped_model_as_shipped(
    make_database: Callable[[str], str], dbt_project_copy: Path
) -> None:
    """The demo model v1 the repository ships, registered from its model card as `make
    pipeline` does on the demo logs: shipped, trained when its card says (not when it was
    registered here), and no F1 over held-out lines that hold no labelled anomaly."""
    url = make_database("shipped")
    artifacts = PROJECT_ROOT / "artifacts"
    folder = versions.artifacts_folder(artifacts, versions.FIRST)
    card = json.loads((folder / CARD).read_text(encoding="utf-8"))
    with job_connection(url) as conn:
        register_from_card(conn, artifacts, versions.FIRST, configured().identity)
    trained = datetime.fromisoformat(card["models"][0]["trained_at"])
    registered = scalar(url, "select min(trained_at) from ml.ml_model_registry")
    assert registered == trained
    (line,) = versions_lines(url, dbt_project_copy).values()
    assert line.startswith(f"v1    active     shipped, trained {trained:%Y-%m-%d %H:%M} UTC on ")
    (detector,) = [m for m in card["models"] if m["model_name"] == "anomaly_detector"]
    metrics = detector["metrics"]
    assert metrics["positives"] == 0 and metrics["f1"] == 0.0  # what the old line printed
    assert "F1 0.000" not in line
    assert line.endswith(
        f"anomalies {metrics['detector']}: flagged {metrics['held_out_anomaly_rate']:.2%} of the"
        " held-out lines; no F1 (no held-out line is labelled an anomaly)"
    )
