"""Champion/challenger comparison on the real pipeline: v1 is exported and scores, v2 is exported
as the challenger with `python -m model_export export --challenger` (trained on the oldest 300
logs only, so it really disagrees with v1), then new logs arrive and dbt scores them with both
versions. ml_model_comparison must equal a recount in pandas of the rows in ml_predictions, after
the first comparison and after an incremental run; the API serves it and the roles."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import psycopg
import pytest
from fastapi.testclient import TestClient

from dev.db import records
from dev.pipeline import (
    dbt,
    load_generated,
    model_export,
)
from model_export.lifecycle.versions import ordered
from tests.python.harness.prepared import Prepared

pytestmark = pytest.mark.slow

LEVELS = ["DEBUG", "INFO", "WARN", "ERROR", "FATAL"]
LATE_LOGS_END = "2026-11-22T06:00:00+00:00"  # after add_challenger's logs


def comparison_table(url: str) -> list[dict[str, Any]]:
    return records(
        url,
        "select * from ml.ml_model_comparison order by day, baseline_version, candidate_version",
    )


def _share(part: pd.Series, whole: int) -> float | None:
    return float(part.sum()) / whole if whole else None


def recount(url: str) -> list[dict[str, Any]]:
    """ml_model_comparison computed independently: every pair of versions (older by number
    first), merged on the log, grouped by the UTC day, in pandas."""
    rows = pd.DataFrame(
        records(
            url,
            "select p.log_entry_id, p.model_version, p.predicted_level, p.is_anomaly,"
            " p.logged_level, p.logged_at, p.predicted_at, s.is_anomaly_label"
            " from ml.ml_predictions as p join ml.stg_log_entries as s using (log_entry_id)",
        )
    )
    versions = ordered(rows["model_version"].unique())
    expected = []
    for i, baseline in enumerate(versions):
        for candidate in versions[i + 1 :]:
            pairs = rows[rows.model_version == baseline].merge(
                rows[rows.model_version == candidate], on="log_entry_id", suffixes=("_b", "_c")
            )
            pairs["day"] = pairs["logged_at_b"].dt.tz_convert("UTC").dt.date
            for day, group in pairs.groupby("day"):
                expected.append(_day(day, baseline, candidate, group))
    return sorted(expected, key=lambda r: (r["day"], r["baseline_version"], r["candidate_version"]))


def _day(day: date, baseline: str, candidate: str, g: pd.DataFrame) -> dict[str, Any]:
    known = g[g.logged_level_b.notna()]
    labelled = g[g.is_anomaly_label_b.notna()]
    truth = labelled.is_anomaly_label_b.astype(bool)
    row: dict[str, Any] = {
        "day": day,
        "baseline_version": baseline,
        "candidate_version": candidate,
        "logs_compared": len(g),
        "level_agreement": _share(g.predicted_level_b == g.predicted_level_c, len(g)),
        "anomaly_agreement": _share(g.is_anomaly_b == g.is_anomaly_c, len(g)),
        "logs_with_level": len(known),
        "labelled_logs": len(labelled),
        "last_predicted_at": max(g.predicted_at_b.max(), g.predicted_at_c.max()),
    }
    for side, suffix in (("baseline", "_b"), ("candidate", "_c")):
        flagged = g["is_anomaly" + suffix]
        row[f"{side}_anomaly_rate"] = _share(flagged, len(g))
        row[f"{side}_level_counts"] = {
            level: int((g["predicted_level" + suffix] == level).sum()) for level in LEVELS
        }
        hits = known["predicted_level" + suffix] == known.logged_level_b
        row[f"{side}_level_accuracy"] = _share(hits, len(known))
        flags = labelled["is_anomaly" + suffix].astype(bool)
        tp, fp, fn = (
            int((flags & truth).sum()),
            int((flags & ~truth).sum()),
            int((~flags & truth).sum()),
        )
        row[f"{side}_anomaly_precision"] = tp / (tp + fp) if tp + fp else None
        row[f"{side}_anomaly_recall"] = tp / (tp + fn) if tp + fn else None
        row[f"{side}_anomaly_f1"] = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None
    return row


def assert_rows_equal(actual: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    assert [sorted(r) for r in actual] == [sorted(r) for r in expected]
    for got, want in zip(actual, expected, strict=True):
        for column, value in want.items():
            if isinstance(value, float):
                assert got[column] == pytest.approx(value, abs=1e-12), (column, got, want)
            else:
                assert got[column] == value, (column, got, want)


@pytest.fixture(scope="module")
def pipeline(challenged: Prepared) -> str:
    return challenged.url


@pytest.fixture(scope="module")
def project(challenged: Prepared) -> Path:
    return challenged.project


def test_the_table_equals_a_recount_of_the_predictions(pipeline: str) -> None:
    table = comparison_table(pipeline)
    assert {(r["baseline_version"], r["candidate_version"]) for r in table} == {("v1", "v2")}
    assert_rows_equal(table, recount(pipeline))
    # v2 learnt from 300 lines: the comparison has something to show
    assert min(r["level_agreement"] for r in table) < 1
    assert any(r["baseline_anomaly_f1"] is not None for r in table), "generated logs have labels"
    # v1 alone scored the first logs: only the logs both scored are compared
    (scored,) = records(
        pipeline,
        "select count(*) filter (where model_version = 'v1') as v1,"
        " count(*) filter (where model_version = 'v2') as both from ml.ml_predictions",
    )
    assert sum(r["logs_compared"] for r in table) == scored["both"] < scored["v1"]


def test_an_incremental_run_recounts_only_the_days_that_changed(
    pipeline: str, project: Path
) -> None:
    # A marker on the oldest day compared: a run that re-read that day would overwrite it.
    old_day = comparison_table(pipeline)[0]["day"]
    with psycopg.connect(pipeline) as conn:
        conn.execute(
            "update ml.ml_model_comparison set logs_compared = -1 where day = %s", (old_day,)
        )
    # one more day of logs, 2026-11-21 06:00 to 2026-11-22 06:00, scored by both versions
    load_generated(pipeline, 300, seed=9, end=LATE_LOGS_END, days=1)
    dbt(project, pipeline, "build")
    after = comparison_table(pipeline)
    assert [r["logs_compared"] for r in after if r["day"] == old_day] == [-1]
    assert after[-1]["day"] == date(2026, 11, 22)
    assert_rows_equal(
        [r for r in after if r["day"] != old_day],
        [r for r in recount(pipeline) if r["day"] != old_day],
    )
    # a full refresh recounts everything, the marked day included
    dbt(project, pipeline, "run", "-s", "ml_model_comparison", "--full-refresh")
    assert_rows_equal(comparison_table(pipeline), recount(pipeline))


def test_api_models_have_roles_and_deployment_history(client: TestClient) -> None:
    body = client.get("/api/v1/models").json()
    assert {(m["model_version"], m["model_name"], m["role"]) for m in body["models"]} == {
        (version, name, role)
        for version, role in (("v1", "active"), ("v2", "challenger"))
        for name in ("level_classifier", "anomaly_detector")
    }
    versions = {v["model_version"]: v for v in body["versions"]}
    assert versions["v1"]["role"] == "active" and versions["v1"]["last_action"] == "export"
    assert versions["v2"]["role"] == "challenger" and versions["v2"]["last_action"] == "challenger"
    assert versions["v2"]["training_rows"] < versions["v1"]["training_rows"]


def test_api_comparison_defaults_to_active_against_challenger(
    client: TestClient, pipeline: str
) -> None:
    table = comparison_table(pipeline)
    body = client.get("/api/v1/models/comparison").json()
    assert (body["baseline_version"], body["baseline_role"]) == ("v1", "active")
    assert (body["candidate_version"], body["candidate_role"]) == ("v2", "challenger")
    newest = max(r["day"] for r in table)
    recent = [r for r in table if (newest - r["day"]).days < 30]
    assert [(date.fromisoformat(r["day"]), r["logs_compared"]) for r in body["rows"]] == [
        (r["day"], r["logs_compared"]) for r in recent
    ]
    newest_row = body["rows"][-1]
    assert newest_row["level_agreement"] == recent[-1]["level_agreement"]
    assert newest_row["candidate_level_counts"] == recent[-1]["candidate_level_counts"]

    # either order names the same pair; `days` counts back from the newest day compared
    reversed_ = client.get(
        "/api/v1/models/comparison", params={"baseline": "v2", "candidate": "v1", "days": 2}
    ).json()
    assert (reversed_["baseline_version"], reversed_["candidate_version"]) == ("v1", "v2")
    assert [r["day"] for r in reversed_["rows"]] == [r["day"] for r in body["rows"][-2:]]
    unknown = client.get("/api/v1/models/comparison", params={"candidate": "v9"}).json()
    assert unknown["rows"] == [] and unknown["candidate_role"] is None


@pytest.mark.parametrize("params", [{"days": 0}, {"days": 367}, {"baseline": "v\x001"}])
def test_api_comparison_rejects_bad_parameters(client: TestClient, params: dict[str, Any]) -> None:
    response = client.get("/api/v1/models/comparison", params=params)
    assert response.status_code == 400 and response.json()["success"] is False


def test_roles_follow_promote_and_rollback_without_a_dbt_run(
    client: TestClient, pipeline: str, project: Path
) -> None:
    """Runs last: it changes the roles. With no challenger left, the comparison shows the pair
    compared most recently."""
    model_export(pipeline, project, "promote")
    roles = {v["model_version"]: v["role"] for v in client.get("/api/v1/models").json()["versions"]}
    assert roles == {"v1": "retired", "v2": "active"}
    body = client.get("/api/v1/models/comparison").json()
    assert (body["baseline_version"], body["baseline_role"]) == ("v1", "retired")
    assert (body["candidate_version"], body["candidate_role"]) == ("v2", "active")
    assert body["rows"]

    model_export(pipeline, project, "rollback")
    versions = {v["model_version"]: v for v in client.get("/api/v1/models").json()["versions"]}
    assert {v: row["role"] for v, row in versions.items()} == {"v1": "active", "v2": "retired"}
    assert versions["v1"]["last_action"] == "rollback"
