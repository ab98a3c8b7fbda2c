"""The default anomaly detector (severity x rarity, model_export.training.anomaly_detectors) end to
end, without labels: generated logs whose is_anomaly labels are cleared, an export, then three dbt
runs (the later two over newer logs). The history that each line was scored with (template_lines,
service_lines) is recounted in Python from the version's training history and the lines of the
earlier runs after the training window; the state tables dbt maintains equal a recount of
ml_predictions; the compiled detector matches the joblib Pipeline on every scored line (1e-9); no
service decides before it has 1,000 lines."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dbt_project.database import connect
from dbt_project.source import configured
from dev.db import fetch_all, scalar
from dev.pipeline import create_source, dbt, export, load_generated
from model_export.lifecycle.verify import load_version, verify_predictions
from model_export.training import pipelines
from model_export.training.anomaly_detectors import (
    SERVICE_LINES,
    TEMPLATE_LINES,
    training_history,
    with_history,
)
from model_export.training.data import read_stg
from model_export.training.templates import templates_of

pytestmark = pytest.mark.slow

FIRST_ROWS, SECOND_ROWS = 20_000, 4_000
OLD_INDEX = (
    "ml_detector_template_history_uidx"
    " on ml.ml_detector_template_history (model_version, service, template_hash)"
)
# the later runs: half of SECOND_ROWS each, over the half days before these ends
LATER_ENDS = ("2026-11-21T00:00:00+00:00", "2026-11-21T12:00:00+00:00")


def _clear_labels(url: str) -> None:
    source = configured().relation.as_string()
    fetch_all(url, f"update {source} set is_anomaly = false returning 1")


@pytest.fixture(scope="module")
def scored(module_db: str, dbt_project_copy: Path) -> tuple[str, Path, list[int]]:
    """(url, project, the last id of each run)."""
    url, project = module_db, dbt_project_copy
    create_source(url)
    load_generated(url, FIRST_ROWS, seed=3)
    _clear_labels(url)
    export(url, project)
    last = []
    for seed, end in enumerate((None, *LATER_ENDS), start=3):
        if end is not None:
            # a table built before the unique index led with the template: the run drops it
            scalar(url, f"create unique index if not exists {OLD_INDEX}; select 1")
            load_generated(url, SECOND_ROWS // 2, seed=seed, end=end, days=0.5)
            _clear_labels(url)
        dbt(project, url, "build")
        last.append(int(scalar(url, "select max(log_entry_id) from ml.ml_predictions")))
    return url, project, last


def _predictions(url: str) -> pd.DataFrame:
    rows = fetch_all(
        url,
        "select log_entry_id, template_lines, service_lines, is_anomaly, logged_level"
        " from ml.ml_predictions where model_version = 'v1' order by log_entry_id",
    )
    columns = ["log_entry_id", TEMPLATE_LINES, SERVICE_LINES, "is_anomaly", "logged_level"]
    return pd.DataFrame(rows, columns=columns)


def test_the_default_detector_is_severity_x_rarity(scored) -> None:
    url, _, _ = scored
    detector = scalar(
        url,
        "select metrics ->> 'detector' from ml.ml_model_registry"
        " where model_version = 'v1' and model_name = 'anomaly_detector'",
    )
    assert detector == "SeverityRarity"


def test_history_is_the_training_lines_plus_earlier_runs(scored) -> None:
    """Run 1 (the training window) and run 2 see the version's training history; run 3 sees
    it plus run 2's lines (logged after the window). Lines of one run never count each
    other."""
    url, project, last = scored
    with connect(url) as conn:
        stg = read_stg(conn)
        _, (_, detector) = load_version(conn, "v1")
    ids = stg["log_entry_id"]
    runs = [stg[ids <= last[0]], stg[(ids > last[0]) & (ids <= last[1])], stg[ids > last[1]]]
    assert [len(r) for r in runs] == [FIRST_ROWS, SECOND_ROWS // 2, SECOND_ROWS // 2]
    trained = training_history(detector)
    assert trained is not None
    templates = templates_of(detector)  # the templates the version learned, as the SQL counts
    expected = pd.concat(
        [
            with_history(runs[0], trained=trained, templates=templates),
            with_history(runs[1], trained=trained, templates=templates),
            with_history(runs[2], history=runs[1], trained=trained, templates=templates),
        ]
    )
    expected = expected.sort_values("log_entry_id").reset_index(drop=True)
    got = _predictions(url)
    assert np.array_equal(got["log_entry_id"], expected["log_entry_id"])
    for column in (TEMPLATE_LINES, SERVICE_LINES):
        assert np.array_equal(got[column].to_numpy(), expected[column].to_numpy()), column
    # run 3 really read the stored counts: more lines than the training history alone
    third = got["log_entry_id"] > last[1]
    alone = with_history(runs[2], trained=trained, templates=templates)[SERVICE_LINES].to_numpy()
    assert (got.loc[third, SERVICE_LINES].to_numpy() > alone).all()


def test_history_keeps_one_unique_index(scored) -> None:
    url, _, _ = scored
    indexes = fetch_all(
        url,
        "select indexname from pg_indexes where schemaname = 'ml'"
        " and tablename = 'ml_detector_template_history' and indexdef like 'CREATE UNIQUE%'",
    )
    assert indexes == [("ml_detector_template_history_template_uidx",)]


def test_state_tables_equal_a_recount(scored) -> None:
    url, _, _ = scored
    for table, key in (
        ("ml_detector_template_history", "model_version, coalesce(service, ''), template_hash"),
        ("ml_detector_service_history", "model_version, coalesce(service, '')"),
    ):
        after = (
            "count(*) filter (where logged_at > (select max(window_end) from ml.ml_model_registry"
            " as registry where registry.model_version = p.model_version))"
        )
        recount = fetch_all(
            url,
            f"select {key}, count(*), {after} from ml.ml_predictions as p"
            f" group by {key} order by {key}",
        )
        names = key.replace("coalesce(service, '')", "service")
        stored = fetch_all(
            url, f"select {names}, lines, lines_after_training from ml.{table} order by {names}"
        )
        assert stored == recount, table


def test_compiled_detector_matches_the_pipeline(scored) -> None:
    url, _, _ = scored
    with connect(url) as conn:
        results = verify_predictions(conn, None)
    assert {r.column for r in results} >= {"is_anomaly", "anomaly_score", "anomaly_confidence"}
    assert all(r.exact and r.rows == FIRST_ROWS + SECOND_ROWS for r in results), [
        r.line() for r in results
    ]


def test_no_decision_without_a_history_or_a_level(scored) -> None:
    url, _, _ = scored
    got = _predictions(url)
    flagged = got[got["is_anomaly"]]
    assert len(flagged) > 0
    assert (flagged[SERVICE_LINES] >= 1000).all()
    assert flagged["logged_level"].notna().all()
    # the detector does not cry wolf: a few percent of the lines at most
    assert len(flagged) / len(got) < 0.05


def test_flagged_lines_reach_alerts_through_the_template_buckets(scored) -> None:
    """The detector's flags (new templates among them) no longer alert one by one: they are
    counted per (service, template, bucket) in ml_template_buckets, equal to a recount of
    ml_predictions after three runs, and ml_alerts speaks only of incidents (and drift)."""
    url, _, _ = scored
    recount = fetch_all(
        url,
        "select coalesce(service, '(none)'), template_hash,"
        " date_bin('1 hour', logged_at, '2000-01-01 00:00:00+00'), count(*),"
        " count(*) filter (where is_anomaly) from ml.ml_predictions where model_version = 'v1'"
        " group by 1, 2, 3 order by 1, 2, 3",
    )
    stored = fetch_all(
        url,
        "select service, template_hash, bucket_start, lines, flagged_lines"
        " from ml.ml_template_buckets where model_version = 'v1' order by 1, 2, 3",
    )
    assert stored == recount
    assert sum(row[4] for row in stored) > 0
    kinds = fetch_all(url, "select distinct alert_kind from ml.ml_alerts")
    assert {kind for (kind,) in kinds} <= {"incident_opened", "incident_escalated",
                                          "incident_resolved", "drift"}  # fmt: skip
    orphans = fetch_all(
        url,
        "select alert_key from ml.ml_alerts where alert_kind <> 'drift' and not exists ("
        " select from ml.ml_incidents as i where i.incident_id = details ->> 'incident_id')",
    )
    assert orphans == []


def test_anomalies_name_the_signals_that_fired(scored) -> None:
    """Every flagged line's explanation ends with the detector's signals, as the Python
    reference writes them from the same history (e.g. "text reads ERROR/FATAL 99%; logged
    ERROR; new for its service (1520 earlier lines of it)")."""
    url, _, _ = scored
    rows = fetch_all(
        url,
        "select log_entry_id, template_lines, service_lines, explanation from ml.ml_predictions"
        " where model_version = 'v1' and is_anomaly order by log_entry_id",
    )
    ids = [r[0] for r in rows]
    with connect(url) as conn:
        _, (_, detector) = load_version(conn)
        stg = read_stg(conn, where=f"log_entry_id = any(array{ids}::bigint[])")
    stg = stg.sort_values("log_entry_id").reset_index(drop=True)
    stg[TEMPLATE_LINES] = [r[1] for r in rows]
    stg[SERVICE_LINES] = [r[2] for r in rows]
    expected = pipelines.anomaly_outputs(detector, stg).explanation
    assert expected is not None
    for (_, _, _, explanation), signals in zip(rows, expected, strict=True):
        assert explanation.endswith("; anomaly: " + signals), (explanation, signals)
        assert signals.startswith("text reads ERROR/FATAL ")
