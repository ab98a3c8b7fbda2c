"""The schema migrations (macros/schema_migrations.sql): each applied once per database and
recorded, whether a command or dbt meets the database first, and concurrent starts do not
collide; a database built by the release before them (its own tree, its own `make pipeline`)
upgrades in place with the next `make run` and loses nothing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import threading
from collections.abc import Callable, Mapping
from io import BytesIO
from pathlib import Path

import pytest

from dbt_project.database import PROJECT_ROOT, connect
from dbt_project.migrations import latest_version, migrate, schema_version
from dev.db import checksum, fetch_all, scalar
from dev.pipeline import cli, coverage, dbt, project_copy
from model_export.compiler.names import MACRO_DIR, SEED_DIR
from tests.python.harness.webhook import receiver

# The last commit before the migrations: the release whose databases must upgrade in place.
PREVIOUS_RELEASE = "3830bb6"
MIGRATIONS = [
    (1, "tables of people and commands"),
    (2, "loader bookkeeping in the output schema"),
    (3, "shipped model versions told apart"),
    (4, "API tokens"),
    (5, "bring-your-own models beside the default pair"),
    (6, "the log source of each model version"),
]
LATEST = MIGRATIONS[-1][0]
# The tables of the migrations, and where the previous release kept them.
OWN_TABLES = {
    "ml.ml_model_registry": "ml.ml_model_registry",
    "ml.ml_model_deployments": "ml.ml_model_deployments",
    "ml.ml_template_labels": "ml.ml_template_labels",
    "ml.ml_alert_deliveries": "ml.ml_alert_deliveries",
    "ml.log_loads": "public.log_loads",
    "ml.log_load_rejects": "public.log_load_rejects",
}


def _columns(url: str, table: str) -> list[str]:
    schema, name = table.split(".")
    found = fetch_all(
        url,
        "select column_name from information_schema.columns"
        " where table_schema = %s and table_name = %s order by ordinal_position",
        (schema, name),
    )
    return [column for (column,) in found]


def _checksum_of(url: str, table: str, columns: list[str]) -> str:
    """checksum over these columns only: a column a migration adds leaves it as it was."""
    return checksum(url, f"(select {', '.join(columns)} from {table})")


def _declared_not_null(project: Path) -> list[tuple[str, str]]:
    """(table, column) of every NOT NULL that an incremental model's contract declares (dbt
    applies them only when it creates a table; macros/incremental.sql sets them later)."""
    manifest = json.loads((project / "target" / "manifest.json").read_text())
    return [
        (node["name"], column)
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["config"]["materialized"] == "incremental"
        for column, spec in node["columns"].items()
        if any(constraint["type"] == "not_null" for constraint in spec["constraints"])
    ]


def _nullable(url: str, declared: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Those of them that the database lets be NULL, in the tables that exist."""
    found = fetch_all(
        url,
        "select c.relname, a.attname from pg_attribute a join pg_class c on c.oid = a.attrelid"
        " where c.relnamespace = 'ml'::regnamespace and a.attnum > 0 and not a.attnotnull",
    )
    return sorted(set(found) & set(declared))


def recorded(url: str) -> list[tuple[int, str]]:
    return fetch_all(url, "select id, name from ml.logml_schema_migrations order by id")


def test_applied_once_and_recorded_even_when_commands_start_together(
    make_database: Callable[[str], str],
) -> None:
    url = make_database("migrate")
    versions: list[int] = []

    def start() -> None:
        with connect(url) as conn:
            versions.append(migrate(conn))

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert versions == [LATEST] * 4 == [latest_version()] * 4
    assert recorded(url) == MIGRATIONS
    applied = fetch_all(url, "select id, applied_at from ml.logml_schema_migrations order by 1")
    with connect(url) as conn:
        assert migrate(conn) == schema_version(conn) == LATEST
    assert fetch_all(url, "select id, applied_at from ml.logml_schema_migrations order by 1") == (
        applied
    )
    for table in OWN_TABLES:
        assert scalar(url, "select to_regclass(%s) is not null", (table,)), table


def test_dbt_and_the_commands_share_one_record(
    make_database: Callable[[str], str], tmp_path: Path
) -> None:
    """dbt meets the database first (on-run-start); a command afterwards finds the migrations
    recorded and applies nothing."""
    url = make_database("migrate_dbt")
    fetch_all(
        url,
        'create table public.log_entries (id bigint primary key, "timestamp" timestamptz'
        " not null, level text, message text not null); select 1",
    )
    dbt(project_copy(tmp_path / "project"), url, "run", "-s", "stg_log_entries")
    assert recorded(url) == MIGRATIONS
    applied = fetch_all(url, "select applied_at from ml.logml_schema_migrations order by id")
    with connect(url) as conn:
        assert migrate(conn) == LATEST
    assert fetch_all(url, "select applied_at from ml.logml_schema_migrations order by id") == (
        applied
    )


def test_a_registry_from_before_challengers_gets_the_column(
    make_database: Callable[[str], str],
) -> None:
    url = make_database("migrate_old_registry")
    fetch_all(
        url,
        """create schema ml;
        create table ml.ml_model_registry (
            model_version text not null, model_name text not null,
            trained_at timestamptz not null, training_rows bigint not null,
            window_start timestamptz, window_end timestamptz, sklearn_version text not null,
            metrics jsonb not null, artifact_path text not null, is_active boolean not null,
            primary key (model_version, model_name));
        insert into ml.ml_model_registry values
            ('v1', 'level_classifier', now(), 10, null, null, '1.5', '{}', 'a', true);
        select 1""",
    )
    with connect(url) as conn:
        migrate(conn)
    assert fetch_all(
        url, "select model_version, is_active, is_challenger from ml.ml_model_registry"
    ) == [("v1", True, False)]


def _previous_tree(target: Path) -> Path:
    """The previous release's files (git archive of its commit), as a fresh clone has them."""
    found = subprocess.run(
        ["git", "archive", "--format=tar", PREVIOUS_RELEASE],
        cwd=PROJECT_ROOT,
        capture_output=True,
        check=False,
    )
    if found.returncode != 0:
        pytest.fail(
            f"commit {PREVIOUS_RELEASE} (the previous release) is not in this clone:"
            f" git fetch --unshallow\n{found.stderr.decode()}"
        )
    with tarfile.open(fileobj=BytesIO(found.stdout)) as archive:
        archive.extractall(target, filter="data")
    return target


def _run_previous(tree: Path, url: str, *args: str, env: Mapping[str, str] | None = None) -> str:
    """`python -m ARGS` of the previous release, in its tree, against `url`."""
    done = subprocess.run(
        [sys.executable, "-m", *args],
        cwd=tree,
        env={**os.environ, "PYTHONPATH": str(tree), **(env or {}), "DATABASE_URL": url},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, f"previous release: {args}\n{done.stdout}{done.stderr}"
    return done.stdout


@pytest.mark.slow
def test_a_database_of_the_previous_release_upgrades_with_the_next_run(
    make_database: Callable[[str], str], tmp_path: Path
) -> None:
    url = make_database("previous_release")
    tree = _previous_tree(tmp_path / "previous")
    # its `make pipeline` (ROWS=3000), a label and a notifier run: every table it owned
    _run_previous(tree, url, "ingest", "create-source")
    _run_previous(tree, url, "ingest", "generate", "--rows", "3000", "--seed", "21",
                  "--end", "2026-11-20T12:00:00+00:00", "--if-empty")  # fmt: skip
    _run_previous(tree, url, "dbt_project", "dbt", "run", "--select", "stg_log_entries")
    _run_previous(tree, url, "model_export", "export", "--if-no-active")
    _run_previous(tree, url, "dbt_project", "dbt", "build")
    first_log = scalar(url, "select min(log_entry_id) from ml.stg_log_entries")
    _run_previous(tree, url, "model_export", "label", "--log-entry-id", str(first_log), "--normal")
    with receiver() as hook:
        _run_previous(tree, url, "alerts", "notify", env={"LOGML_ALERT_WEBHOOK_URL": hook.url})
    before = {table: (_columns(url, old), checksum(url, old)) for table, old in OWN_TABLES.items()}
    prediction_columns = _columns(url, "ml.ml_predictions")
    predictions = checksum(url, "ml.ml_predictions")
    assert scalar(url, "select to_regclass('ml.logml_schema_migrations')") is None

    # this release: its dbt project with the versions the previous one compiled, `make run`
    project = project_copy(tmp_path / "project")
    for generated in (MACRO_DIR, SEED_DIR):
        shutil.copytree(tree / generated, project / generated, dirs_exist_ok=True)
    dbt(project, url, "parse", artifacts=True)
    declared = _declared_not_null(project)
    assert _nullable(url, declared)  # the release before had fewer NOT NULLs in its tables
    dbt(project, url, "build")
    assert _nullable(url, declared) == []  # its contracts' NOT NULLs, set on the old tables
    assert recorded(url) == MIGRATIONS
    after = {
        table: (columns, _checksum_of(url, table, columns))
        for table, (columns, _) in before.items()
    }
    assert after == before  # moved into the output schema where it was elsewhere, row for row
    assert fetch_all(url, "select distinct model_kind from ml.ml_model_registry") == [("default",)]
    assert fetch_all(url, "select to_regclass('public.log_loads')") == [(None,)]
    assert scalar(url, "select count(*) from ml.ml_template_labels") == 1
    # nothing rescored; the versions and predictions there are of the one source it had
    assert _checksum_of(url, "ml.ml_predictions", prediction_columns) == predictions
    source = "public.log_entries.id"
    assert fetch_all(url, "select distinct log_source from ml.ml_model_registry") == [(source,)]
    assert fetch_all(url, "select distinct log_source from ml.ml_predictions") == [(source,)]

    # and the commands go on from there: new logs load (recorded beside the old loads) and
    # score, and the migrations are not applied again
    cli(url, "ingest", "generate", "--rows", "500", "--seed", "22",
        "--end", "2026-11-21T12:00:00+00:00")  # fmt: skip
    dbt(project, url, "build")
    assert scalar(url, "select count(*) from ml.log_loads") == 2
    assert coverage(url).exact
    assert recorded(url) == MIGRATIONS
    with connect(url) as conn:
        assert migrate(conn) == LATEST
