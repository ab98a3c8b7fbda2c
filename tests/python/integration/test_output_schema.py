"""LOGML_SCHEMA works end to end: with the output schema named otherwise, the real pipeline (the
loader, export, dbt build, label, verify, the notifier, the summary) and the API write and read
there only, and schema ml is never created."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from dbt_project.migrations import latest_version
from dev.api_server import client
from dev.db import as_reader, fetch_all, scalar
from dev.pipeline import build, cli, coverage, model_export
from model_export.training.tokenizer import template_hash

pytestmark = pytest.mark.slow  # its module fixture builds a database with dbt (minutes)

SCHEMA = "logml_out"
ROWS = 3000
# Tables of every owner: dbt models, the migrations' tables, the loader's bookkeeping.
TABLES = (
    "stg_log_entries", "ml_predictions", "ml_status", "ml_alerts", "ml_model_versions",
    "ml_model_registry", "ml_model_deployments", "ml_template_labels", "ml_alert_deliveries",
    "log_loads", "log_load_rejects", "logml_schema_migrations",
)  # fmt: skip


@pytest.fixture(scope="module")
def pipeline(module_db: str, dbt_project_copy: Path) -> Iterator[tuple[str, Path]]:
    """The pipeline built with LOGML_SCHEMA set, which stays set for the module's commands."""
    with pytest.MonkeyPatch.context() as environment:
        environment.setenv("LOGML_SCHEMA", SCHEMA)
        build(module_db, dbt_project_copy, ROWS, seed=23)
        yield module_db, dbt_project_copy


def test_everything_is_in_the_output_schema(pipeline: tuple[str, Path]) -> None:
    url, _ = pipeline
    assert scalar(url, "select to_regnamespace('ml')") is None
    for table in TABLES:
        assert scalar(url, "select to_regclass(%s) is not null", (f"{SCHEMA}.{table}",)), table
    assert coverage(url).exact and coverage(url).predictions == ROWS
    recorded = fetch_all(url, f"select max(id) from {SCHEMA}.logml_schema_migrations")
    assert recorded == [(latest_version(),)]


def test_the_commands_work_there(pipeline: tuple[str, Path]) -> None:
    url, project = pipeline
    assert "v1    active" in model_export(url, project, "versions")
    line = scalar(url, f"select min(log_entry_id) from {SCHEMA}.stg_log_entries")
    label = model_export(url, project, "label", "--log-entry-id", str(line), "--normal")
    assert "labelled normal" in label
    # under version 1's hash of the line and the hash its scoring version gave it
    stored = {
        h for (h,) in fetch_all(url, f"select template_hash from {SCHEMA}.ml_template_labels")
    }
    scored = scalar(
        url, f"select template_hash from {SCHEMA}.ml_predictions where log_entry_id = %s", (line,)
    )
    message = scalar(
        url, f"select message from {SCHEMA}.stg_log_entries where log_entry_id = %s", (line,)
    )
    assert stored == {scored, template_hash(message)}
    verified = model_export(url, project, "verify", "--from-predictions", "--rows", "0")
    assert verified.strip().splitlines()[-1] == "EXACT"
    assert "alert(s) pending; dry run" in cli(url, "alerts", "notify", "--dry-run")
    summary = cli(url, "dbt_project", "summary")
    assert f"{SCHEMA}.ml_predictions [v1, public.log_entries.id]: {ROWS:,} scored" in summary


def test_the_api_and_plain_sql_read_there(pipeline: tuple[str, Path]) -> None:
    url, _ = pipeline
    with client(url) as api:
        status = api.get("/api/v1/status").json()
        assert (status["state"], status["total_predictions"]) == ("ready", ROWS)
        assert [v["model_version"] for v in api.get("/api/v1/models").json()["versions"]] == ["v1"]
        legacy = api.get("/api/ml_lightweight?action=status").json()
        assert (legacy["ml_system"], legacy["total_predictions"]) == ("active", ROWS)
        alerts = api.get("/api/v1/alerts").json()
        assert alerts["total"] == scalar(url, f"select count(*) from {SCHEMA}.ml_alerts")
        assert api.get("/api/v1/templates/unlabelled").status_code == 200
    # the read-only role finds the tables by their names alone, as users type them
    with psycopg.connect(as_reader(url)) as conn:
        assert conn.execute("select count(*) from ml_predictions").fetchone() == (ROWS,)
