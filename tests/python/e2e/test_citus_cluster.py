"""The same dbt project on a Citus cluster (a coordinator and two workers of this module's own,
dev/citus/cluster.sh) and on a plain PostgreSQL, fed the same logs and the same registered
model versions: every prediction column but predicted_at and the champion/challenger, alert
and stats tables must be equal; a second run changes nothing; appended logs are scored
incrementally; the scoring statement dbt ran is one INSERT ... SELECT pushed down to the
shards; a worker crashed mid-run loses and duplicates nothing once it is back; the API
serves from the coordinator.

Run alone with `pytest -m citus`. Where Citus cannot be built (no ../shared/vendor/citus, no
compiler) every test here is skipped with the reason."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from dbt_project.database import connect
from dev.api_server import client as api_client
from dev.db import checksum, fetch_all, scalar, server_dir, wait_for
from dev.pipeline import (
    CHALLENGER_LOGS_END,
    coverage,
    create_source,
    dbt,
    export,
    load_generated,
    rows_scored,
    start_dbt,
)
from tests.python.harness.citus import citus_cluster, cluster, explain, task_count

pytestmark = [pytest.mark.citus, pytest.mark.slow]

FIRST_LOGS = 3000
NEW_LOGS = 1500
# columns that say when a run happened, not what it computed
RUN_TIME_COLUMNS = {
    "predicted_at", "last_predicted_at", "detected_at", "source_predicted_at",
    "latest_prediction_at", "last_run_at", "next_run_due_at",
}  # fmt: skip
COMPARED_TABLES = (
    "ml_predictions", "ml_stats_hourly", "ml_model_health", "ml_model_comparison",
    "ml_drift", "ml_alerts", "ml_status",
)  # fmt: skip


@pytest.fixture(scope="module")
def citus_data() -> Iterator[Path]:
    with server_dir() as data:  # outside pytest's owner-only tmp: the nodes run as pgserver
        yield data


@pytest.fixture(scope="module")
def citus(citus_data: Path) -> Iterator[str]:
    with citus_cluster(citus_data) as url:
        yield url


def copy_rows(source: str, target: str, table: str, where: str = "true") -> None:
    """Rows of `table` from one database into the other (COPY through memory)."""
    buffer = io.BytesIO()
    out = f"copy (select * from {table} where {where}) to stdout"
    with connect(source) as conn, conn.cursor() as cur, cur.copy(out) as copy:
        for data in copy:
            buffer.write(data)
    with (
        connect(target) as conn,
        conn.cursor() as cur,
        cur.copy(f"copy {table} from stdin") as copy,
    ):
        copy.write(buffer.getvalue())


def same_logs_and_registry(citus: str, plain: str) -> None:
    """The plain database gets the cluster's new logs (same ids) and its registry (the
    migrations created its table)."""
    create_source(plain)
    newest = scalar(plain, "select coalesce(max(id), 0) from public.log_entries")
    copy_rows(citus, plain, "public.log_entries", f"id > {newest}")
    fetch_all(plain, "truncate ml.ml_model_registry; select 1")
    copy_rows(citus, plain, "ml.ml_model_registry")


ROUNDED_JSON = """case when jsonb_typeof({c}) = 'object' then (
    select jsonb_object_agg(e.key, case when jsonb_typeof(e.value) = 'number'
        then to_jsonb(round(e.value::text::numeric, 9)) else e.value end)
    from jsonb_each({c}) as e
) else {c} end"""


def content(url: str, table: str) -> list[str]:
    """Every row of a table as text, sorted, without the run-time columns; the floats of the
    aggregates to 9 decimals, in JSON objects too (a float sum over several shards adds in
    another order than over one table); ml_predictions exactly."""
    exact = table == "ml_predictions"
    rounded = {
        "double precision": "round({c}::numeric, 9)",
        "jsonb": ROUNDED_JSON,
    }
    columns = [
        name if exact or data_type not in rounded else rounded[data_type].format(c=name)
        for name, data_type in fetch_all(
            url,
            "select column_name, data_type from information_schema.columns"
            " where table_schema = 'ml' and table_name = %s order by ordinal_position",
            (table,),
        )
        if name not in RUN_TIME_COLUMNS
    ]
    rows = fetch_all(url, f"select row({', '.join(columns)})::text as r from ml.{table} order by r")
    return [r for (r,) in rows]


def same_tables(citus: str, plain: str) -> None:
    for table in COMPARED_TABLES:
        on_citus, on_one_node = content(citus, table), content(plain, table)
        only_citus = sorted(set(on_citus) - set(on_one_node))
        only_one_node = sorted(set(on_one_node) - set(on_citus))
        assert on_citus == on_one_node, (table, only_citus[:5], only_one_node[:5])


HISTORY_TABLES = ("ml.ml_detector_template_history", "ml.ml_detector_service_history")


def test_the_pipeline_on_citus_scores_exactly_like_one_node(
    citus: str, module_db: str, dbt_project_copy: Path
) -> None:
    create_source(citus)
    load_generated(citus, FIRST_LOGS, seed=1)
    export(citus, dbt_project_copy)
    same_logs_and_registry(citus, module_db)
    dbt(dbt_project_copy, module_db, "build")
    dbt(dbt_project_copy, citus, "build")

    placement = dict(
        fetch_all(
            citus,
            "select table_name::text, citus_table_type || ':' || distribution_column"
            " || ':' || colocation_id from citus_tables",
        )
    )
    colocated = placement["log_entries"].split(":")[2]
    assert placement["log_entries"] == f"distributed:id:{colocated}"
    assert placement["ml.ml_predictions"] == f"distributed:log_entry_id:{colocated}"
    lookups = ("ml.ml_template_frequency_v1", "ml.ml_model_registry", *HISTORY_TABLES)
    for lookup in lookups:
        assert placement[lookup].startswith("reference:"), placement
    assert coverage(citus).exact and coverage(citus).predictions == FIRST_LOGS
    same_tables(citus, module_db)


def test_a_second_run_changes_nothing(citus: str, dbt_project_copy: Path) -> None:
    before = checksum(citus, "ml.ml_predictions")
    dbt(dbt_project_copy, citus, "run", artifacts=True)
    assert rows_scored(dbt_project_copy) == 0
    assert checksum(citus, "ml.ml_predictions") == before


def test_appended_logs_are_scored_incrementally_by_champion_and_challenger(
    citus: str, module_db: str, dbt_project_copy: Path
) -> None:
    export(citus, dbt_project_copy, "--challenger", "--limit", "300")
    old = checksum(citus, "ml.ml_predictions")
    load_generated(citus, NEW_LOGS, seed=8, end=CHALLENGER_LOGS_END, days=2)
    same_logs_and_registry(citus, module_db)
    dbt(dbt_project_copy, module_db, "build")
    # the last run: test_scoring_runs_on_the_workers
    dbt(dbt_project_copy, citus, "build", artifacts=True)

    assert rows_scored(dbt_project_copy) == 2 * NEW_LOGS  # the new logs, by both versions
    assert checksum(citus, "ml.ml_predictions", f"log_entry_id <= {FIRST_LOGS}") == old
    assert scalar(citus, "select count(*) from ml.ml_model_comparison") > 0
    same_tables(citus, module_db)


def test_the_scoring_statement_runs_on_the_workers(citus: str, dbt_project_copy: Path) -> None:
    """The statement of the last incremental run (active + challenger): one distributed step,
    one task per shard, each an Insert into its own shard of ml_predictions; nothing pulled to
    the coordinator, no repartition, no subplan run first."""
    statement = (
        dbt_project_copy / "target/run/logml/models/marts/scoring/ml_predictions.sql"
    ).read_text()
    assert statement.lstrip().startswith('insert into "')
    shards = scalar(
        citus,
        "select count(*) from pg_dist_shard where logicalrelid = 'ml.ml_predictions'::regclass",
    )
    newest = scalar(citus, "select max(id) from public.log_entries")
    bounds = {
        "logml.scoring_lower_id_active": str(newest - 100),
        "logml.scoring_lower_id_challenger": str(newest - 100),
    }
    plan = explain(citus, statement, bounds)
    assert task_count(plan) == [shards], plan
    assert "Insert on ml_predictions_" in plan, plan
    for pulled in ("INSERT/SELECT method", "Distributed Subplan", "Repartition", "Merge Task"):
        assert pulled not in plan, plan


WAITING_INSERT = """
select count(*) from pg_stat_activity
where wait_event_type = 'Lock' and query ilike '%insert into%ml_predictions%'
  and pid <> pg_backend_pid()
"""


def test_a_worker_crashed_mid_run_loses_and_duplicates_nothing(
    citus: str, citus_data: Path, dbt_project_copy: Path
) -> None:
    """The run has taken its lock and set its bounds and its INSERT is waiting (this test
    holds a SHARE lock on ml_predictions) when worker w2 crashes; the run fails, nothing of it
    is visible; with w2 back the next run scores every new log once per version."""
    load_generated(citus, NEW_LOGS, seed=9, end=CHALLENGER_LOGS_END, days=1)
    before = scalar(citus, "select count(*) from ml.ml_predictions")
    blocker = psycopg.connect(citus)  # not autocommit: the lock is held until it closes
    try:
        with blocker.cursor() as cur:
            cur.execute("lock table ml.ml_predictions in share mode")
        run = start_dbt(dbt_project_copy, citus, "run", "-s", "ml_predictions")
        wait_for(lambda: scalar(citus, WAITING_INSERT), 300, "the scoring INSERT to wait")
        cluster(citus_data, "kill", "w2")
    finally:
        blocker.close()  # releases the lock: the INSERT goes on, towards a dead worker
    output, _ = run.communicate(timeout=600)
    assert run.returncode != 0, output[-3000:]

    cluster(citus_data, "up")
    assert scalar(citus, "select count(*) from ml.ml_predictions") == before
    dbt(dbt_project_copy, citus, "run", "-s", "ml_predictions", artifacts=True)
    assert rows_scored(dbt_project_copy) == 2 * NEW_LOGS
    assert coverage(citus).exact
    duplicates = (
        "select count(*) - count(distinct (model_version, log_entry_id)) from ml.ml_predictions"
    )
    assert scalar(citus, duplicates) == 0


def test_the_api_serves_from_the_coordinator(citus: str) -> None:
    with api_client(citus) as api:
        for path in ("/api/v1/status", "/api/v1/predictions?limit=5", "/api/v1/stats/hourly",
                     "/api/v1/models", "/api/v1/models/comparison", "/api/v1/alerts",
                     "/api/v1/drift", "/api/metrics", "/"):  # fmt: skip
            assert api.get(path).status_code == 200, path
        status = api.get("/api/v1/status").json()
        assert status["state"] != "not_initialized", status


def test_a_retention_in_days_prunes_every_table_on_the_cluster(
    citus: str, dbt_project_copy: Path
) -> None:
    """var retention as a number of days (the other rules' statements run in every build
    above): the predictions older than a day before the newest go, and the hourly stats and the
    incident buckets keep nothing from before the oldest line left. Last in the module: it
    deletes."""
    newest = scalar(citus, "select max(logged_at) from ml.ml_predictions")
    # every connection the executor may open, at once, as on a busy cluster: the run must not
    # depend on how many connections per worker its deletes happened to use
    at_once = {"PGOPTIONS": "-c citus.executor_slow_start_interval=0"}
    dbt(dbt_project_copy, citus, "run", "--vars", "{retention: 1}", env=at_once)
    oldest = scalar(citus, "select min(logged_at) from ml.ml_predictions")
    assert newest - timedelta(days=1) <= oldest < newest
    first_hour = oldest.replace(minute=0, second=0, microsecond=0)
    for table, column in (
        ("ml_stats_hourly", "hour"),
        ("ml_service_buckets", "bucket_start"),
        ("ml_template_buckets", "bucket_start"),
    ):
        kept = scalar(citus, f"select min({column}) from ml.{table}")
        assert kept == first_hour, table
