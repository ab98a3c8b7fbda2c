"""The replay end to end on a small generated dataset (the real loader, export and dbt): the
labels never reach the product, every held-back line arrives once in its run, the figures match
counts taken independently (SQL over the product's tables and the source), and the fast dbt
selection gives the rows `dbt build` gives."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from dev.db import fetch_all, scalar
from dev.pipeline import project_copy
from model_export.evaluation.replay import RUN, SCHEDULE
from model_export.evaluation.replay_evaluation import (
    DatasetResult,
    ReplayDataset,
    product_method,
    replay_dataset,
)
from model_export.evaluation.replay_report import replay_tables
from model_export.evaluation.rule_baselines import FATAL_RULE

pytestmark = pytest.mark.slow  # its module fixture builds a database with dbt (minutes)

END = "2026-01-01T18:00:00+00:00"
CUTOFF = pd.Timestamp("2026-01-01T00:00:00Z")  # the first day of the window trains
# 12,000 lines over 42 hours, trained on the first 24: the replay is three runs of 6 hours
DATASET = ReplayDataset(
    "generated small", "small", ("generate", "--rows", "12000", "--seed", "3", "--days", "1.75",
    "--end", END), train_days=1, loghub=False,
)  # fmt: skip
PRODUCT = product_method("ml_alerts")
INCIDENT_LINES = product_method("ml_incidents")


def short_history(project_dir: Path) -> Path:
    """The project copy with incidents judged on services with 200 lines of history, not
    1,000: a day of training is a short history (tests/python/harness/bursts.py lowers it for
    a small build the same way)."""
    project = project_dir / "dbt_project.yml"
    text = project.read_text()
    assert "incident_min_history_lines: 1000\n" in text
    project.write_text(
        text.replace("incident_min_history_lines: 1000\n", "incident_min_history_lines: 200\n")
    )
    return project_dir


@pytest.fixture(scope="module")
def replayed(module_db: str, dbt_project_copy: Path) -> DatasetResult:
    return replay_dataset(module_db, short_history(dbt_project_copy), DATASET, seed=3)


def test_the_labels_never_reach_the_product(module_db: str, replayed: DatasetResult) -> None:
    labelled = scalar(
        module_db,
        "select count(*) from public.log_entries"
        " where is_anomaly is not null or anomaly_type is not null",
    )
    assert labelled == 0
    assert replayed.labelled["is_anomaly_label"].eq(True).sum() > 0  # kept aside
    trained_until = scalar(module_db, "select max(window_end) from ml.ml_model_registry")
    assert trained_until < CUTOFF
    scored = scalar(
        module_db,
        "select count(*) from ml.ml_predictions p join ml.ml_model_registry r"
        " on r.model_version = p.model_version and r.is_active"
        " and r.model_name = 'anomaly_detector'",
    )
    assert scored == replayed.lines == scalar(module_db, "select count(*) from ml.stg_log_entries")


def test_each_run_brings_its_six_hours_once(replayed: DatasetResult) -> None:
    first = (CUTOFF - pd.Timestamp(0, tz="UTC")) // RUN
    assert [run.index for run in replayed.runs] == [first, first + 1, first + 2]
    assert sum(run.lines for run in replayed.runs) == replayed.replayed_lines
    at = pd.to_datetime(replayed.labelled["logged_at"], utc=True)
    assert replayed.replayed_lines == int((at >= CUTOFF).sum())
    for run in replayed.runs:
        run_start = pd.Timestamp(0, tz="UTC") + run.index * RUN
        assert run.lines == int(((at >= run_start) & (at < run_start + RUN)).sum())
        # what a run raised is about lines that had arrived
        assert all(r.start < run_start + RUN for r in run.raised)


# Each product table the replay reads, and its rows as (kind, service, start, end) as Raised.
PRODUCT_ROWS = {
    "ml_alerts": "select alert_kind, service, window_start, window_end from ml.ml_alerts",
    "ml_incidents": "select severity, service, started_at, last_seen_at from ml.ml_incidents",
}


def test_the_product_figures_are_its_tables(module_db: str, replayed: DatasetResult) -> None:
    raised = [r for run in replayed.runs for r in run.raised]
    read = {(r.kind, r.service, r.start, r.end) for r in raised}
    counted = 0
    for table, query in PRODUCT_ROWS.items():
        figures = replayed.method(product_method(table)).alerts
        assert figures.raised > 0, table  # an incident, and the alert that opened it
        counted += figures.raised
        stored = {(kind, service, start, end) for kind, service, start, end in fetch_all(
            module_db, query
        )}  # fmt: skip
        # the rows not read after a replayed run were raised by the first run, about the
        # training days
        assert all(end <= CUTOFF for _, _, _, end in stored - read), table
        read -= stored
    assert counted == len(raised)
    assert read == set()  # every row read is in its table
    # line figures: the alerts' from ml_predictions, the incidents' from ml_incident_lines,
    # against the labels kept aside
    test = replayed.labelled[pd.to_datetime(replayed.labelled["logged_at"], utc=True) >= CUTOFF]
    anomalies = set(test.loc[test["is_anomaly_label"].eq(True), "log_entry_id"])
    for method, query in (
        (
            PRODUCT,
            "select log_entry_id from ml.ml_predictions where is_anomaly and logged_at >= %s",
        ),
        (
            INCIDENT_LINES,
            "select distinct log_entry_id from ml.ml_incident_lines where logged_at >= %s",
        ),
    ):
        flagged = {i for (i,) in fetch_all(module_db, query, (CUTOFF,))}
        lines = replayed.method(method).lines
        assert lines["flagged"] == len(flagged), method
        assert lines["positives"] == len(anomalies)
        assert lines["recall"] == pytest.approx(len(flagged & anomalies) / len(anomalies))


def test_the_fatal_rule_figures_match_sql(module_db: str, replayed: DatasetResult) -> None:
    """Its alerts counted by SQL over the source: one per service and run with FATAL lines,
    from the first to the last; an incident is alerted when one names its service and meets
    its span."""
    alerts = fetch_all(
        module_db,
        """
        select service, floor(extract(epoch from "timestamp") / 21600)::bigint as run,
               min("timestamp"), max("timestamp")
        from public.log_entries
        where level = 'FATAL' and "timestamp" >= %s
        group by 1, 2
        """,
        (CUTOFF,),
    )
    incidents = replayed.incidents
    assert incidents, "the dataset has labelled incidents in its replayed day"

    def first_alert(incident) -> int | None:  # type: ignore[no-untyped-def]
        runs = [
            run
            for service, run, start, end in alerts
            if service == incident.service and start <= incident.end and incident.start <= end
        ]
        return min(runs) - incident.run if runs else None

    fatal = replayed.method(FATAL_RULE).alerts
    assert fatal.raised == len(alerts)
    assert list(fatal.delays) == [first_alert(i) for i in incidents]
    met = sum(d is not None and d <= 1 for d in map(first_alert, incidents))
    assert fatal.alerted(1) == met
    query = "select id from public.log_entries where level = 'FATAL' and timestamp >= %s"
    fatal_ids = {i for (i,) in fetch_all(module_db, query, (CUTOFF,))}
    anomalies = replayed.labelled[
        replayed.labelled["is_anomaly_label"].eq(True)
        & (pd.to_datetime(replayed.labelled["logged_at"], utc=True) >= CUTOFF)
    ]
    caught = len(fatal_ids & set(anomalies["log_entry_id"]))
    assert replayed.method(FATAL_RULE).lines["recall"] == pytest.approx(caught / len(anomalies))


def test_the_tables_state_the_targets(replayed: DatasetResult) -> None:
    targets, runs, datasets = replay_tables([replayed], {})
    verdicts = [row[-1] for row in targets.rows]
    assert verdicts[:3] == [
        "met" if ok else "**missed**"
        for ok in (
            (replayed.method(PRODUCT).alerts.alerted_share(1) or 0) >= 0.95,
            replayed.method(PRODUCT).alerts.false_per_day <= 1,
            float(replayed.method(INCIDENT_LINES).lines["f1"]) >= 0.8,  # type: ignore[arg-type]
        )
    ]
    assert verdicts[3:] == ["not measured in this run"] * 2  # unseen system, grouping
    # a row per method: ml_alerts, ml_incidents and the two rules
    assert len(runs.rows) == 4 and datasets.rows[0][3] == "3"


ALERT_ROWS = """
select alert_key, alert_kind, model_version, service, window_start, window_end, observed,
       baseline, threshold, severity, message, details::text
from ml.ml_alerts order by alert_key
"""
PREDICTION_ROWS = """
select log_entry_id, model_version, predicted_level, level_confidence, is_anomaly,
       anomaly_score, anomaly_confidence, severity, explanation, template_hash, template_lines,
       service_lines
from ml.ml_predictions order by log_entry_id, model_version
"""


def test_the_fast_selection_gives_the_rows_of_dbt_build(
    module_db: str,
    replayed: DatasetResult,
    make_database: Callable[[str], str],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    url = make_database("replay_build")
    project = short_history(project_copy(tmp_path_factory.mktemp("dbt_project_build")))
    built = replay_dataset(url, project, DATASET, seed=3, selection=SCHEDULE)
    assert fetch_all(url, ALERT_ROWS) == fetch_all(module_db, ALERT_ROWS)
    assert fetch_all(url, PREDICTION_ROWS) == fetch_all(module_db, PREDICTION_ROWS)
    assert built.summary()["methods"] == replayed.summary()["methods"]
