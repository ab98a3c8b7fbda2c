"""make run-often (dbt_project.run_often): the selector run_often holds every model that the
products it runs read, and frequent runs leave the database as `dbt build` does for the same
new lines (real dbt, the embedded PostgreSQL, a small build)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from dbt_project.database import connect
from dbt_project.dbt_runner import InProcessDbt, invoke_in_process
from dbt_project.run_often import (
    FROM_THE_FULL_BUILD,
    SELECTOR,
    SELECTOR_WITH_THEM,
    SMALL_SOURCES,
    missing_tables,
    run_every,
    run_often,
    seed_names,
)
from dev.db import fetch_all, scalar
from dev.pipeline import dbt
from tests.python.harness.bursts import add_burst, known_template
from tests.python.harness.prepared import Prepared

pytestmark = pytest.mark.slow  # its module fixture builds a database with dbt (minutes)

# What the frequent runs must keep up to date, and what ml_predictions reads besides its ref()s
# (the detector's history, through macros/log_features.sql).
PRODUCTS = ("ml_alerts", "ml_incidents", "ml_stats_hourly", "ml_stats_windows")
READ_BY_SCORING = ("ml_detector_template_history", "ml_detector_service_history")

# a short history is enough for a small build (as tests/python/harness/bursts.py does)
SHORT_HISTORY = json.dumps({"incident_min_history_lines": 200})
VARS = ("--vars", SHORT_HISTORY)


def _listed(url: str, project: Path, *selection: str) -> dict[str, dict]:
    """dbt ls: unique_id -> name, depends_on, resource_type, config of the selected nodes."""
    done = invoke_in_process(
        ["ls", *selection, "--output", "json",
         "--output-keys", "unique_id name depends_on resource_type config"],
        url, project,
    )  # fmt: skip
    return {node["unique_id"]: node for node in map(json.loads, done.result)}


def test_the_selection_holds_everything_its_models_read(
    module_db: str, dbt_project_copy: Path
) -> None:
    every = _listed(module_db, dbt_project_copy)
    selected = _listed(module_db, dbt_project_copy, "--selector", SELECTOR)
    names = {node["name"] for node in selected.values()}
    assert {node["resource_type"] for node in selected.values()} == {"model"}
    assert set(PRODUCTS + READ_BY_SCORING) <= names
    # closed under dependencies: no selected model reads one that only `dbt build` refreshes,
    # but those the other selector adds for a database without them
    with_them = _listed(module_db, dbt_project_copy, "--selector", SELECTOR_WITH_THEM)
    assert {n["name"] for n in with_them.values()} == names | set(FROM_THE_FULL_BUILD)
    for node in with_them.values():
        missing = [
            parent
            for parent in node["depends_on"]["nodes"]
            if parent.startswith("model.") and parent not in with_them
        ]
        assert not missing, f"{node['name']} reads {missing}, which {SELECTOR} leaves out"
    # the report tables stay on the 6-hour build
    assert {"ml_status", "ml_model_comparison", *FROM_THE_FULL_BUILD}.isdisjoint(names)
    # run_often compares every source but the logs before starting dbt
    sources = {n["name"] for n in every.values() if n["resource_type"] == "source"}
    assert sources - {"log_entries"} == set(SMALL_SOURCES)


# Columns that say when a run wrote a row (the wall clock), not what the logs say.
WALL_CLOCK = {
    "predicted_at",
    "last_predicted_at",
    "source_predicted_at",
    "detected_at",
    "updated_at",
}


def _rows(url: str, table: str) -> list[dict[str, str]]:
    """The table's rows (as text, sorted), without its WALL_CLOCK columns."""
    columns = [
        name
        for (name,) in fetch_all(
            url,
            "select column_name from information_schema.columns"
            " where table_schema = 'ml' and table_name = %s order by ordinal_position",
            (table,),
        )
        if name not in WALL_CLOCK
    ]
    assert columns, f"no table ml.{table}"
    listed = ", ".join(f'"{name}"' for name in columns)
    rows = sorted(
        tuple(map(str, row)) for row in fetch_all(url, f"select {listed} from ml.{table}")
    )
    return [dict(zip(columns, row, strict=True)) for row in rows]


def _differences(often: list[dict[str, str]], full: list[dict[str, str]]) -> list[str]:
    """Where two tables differ: their row counts, or the columns of each differing row pair."""
    if len(often) != len(full):
        return [f"{len(often)} rows against {len(full)}"]
    return [
        f"{column}: {a[column]!r} against {b[column]!r}"
        for a, b in zip(often, full, strict=True)
        for column in a
        if a[column] != b[column]
    ]


def _tables_written(url: str, project: Path) -> list[str]:
    """The tables of the selection (what a frequent run writes; views and ephemeral models
    hold no rows)."""
    selected = _listed(url, project, "--selector", SELECTOR).values()
    return sorted(
        node["name"]
        for node in selected
        if node["config"]["materialized"] in ("table", "incremental")
    )


def _resident(copy: Prepared) -> InProcessDbt:
    """A resident runner of `make run-often-every` on `copy`, with the short history."""
    return InProcessDbt(copy.url, copy.project, SHORT_HISTORY)


@pytest.fixture(scope="module")
def both(
    built: Prepared, clone_prepared: Callable[[Prepared], Prepared]
) -> tuple[Prepared, Prepared]:
    """Two copies of the same build: new lines arrive in both, two times (a burst of a known
    WARN template, then of an ERROR one the next hour: an incident opened, then escalated);
    `often` runs make run-often each time, in one process as `run-often --every` does (the
    project parsed once), and one `dbt build` at the end; `full` a `dbt build` each time."""
    often, full = built, clone_prepared(built)
    resident = _resident(often)
    service = scalar(
        often.url,
        "select service from ml.ml_predictions group by 1 order by count(*) desc limit 1",
    )
    start = scalar(
        often.url,
        "select date_trunc('hour', max(logged_at)) + interval '1 hour' from ml.ml_predictions",
    )
    templates = [known_template(often.url, service, level) for level in ("WARN", "ERROR")]
    for hour, template in enumerate(templates):
        for copy in (often, full):
            add_burst(copy.url, service, template, start + timedelta(hours=hour), 40)
        assert "ran " in run_often(resident)
        dbt(full.project, full.url, "build", *VARS)
    assert run_often(resident).startswith("nothing new")
    dbt(often.project, often.url, "build", *VARS)
    return often, full


def test_frequent_runs_leave_what_dbt_build_leaves(both: tuple[Prepared, Prepared]) -> None:
    often, full = both
    assert scalar(often.url, "select count(*) from ml.ml_incidents") > 0
    kinds = {kind for (kind,) in fetch_all(often.url, "select alert_kind from ml.ml_alerts")}
    assert {"incident_opened", "incident_escalated"} <= kinds
    tables = _tables_written(often.url, often.project)
    assert {"ml_predictions", "ml_incidents", "ml_alerts", "ml_template_buckets"} <= set(tables)
    for table in tables:
        assert not (found := _differences(_rows(often.url, table), _rows(full.url, table))), (
            f"{table}: {found[:5]}"
        )


def test_a_seed_the_database_lacks_is_loaded_first(both: tuple[Prepared, Prepared]) -> None:
    """A version merged since the last full build: its seeds are not in the database yet."""
    often, _ = both
    assert missing_tables(often.url, seed_names(often.project)) == []
    with connect(often.url) as conn:
        conn.execute("drop table ml.ml_template_frequency_v1")
    assert missing_tables(often.url, seed_names(often.project)) == ["ml_template_frequency_v1"]
    assert "ran " in run_often(_resident(often), force=True)
    assert scalar(often.url, "select count(*) from ml.ml_template_frequency_v1") > 0


def test_a_model_of_the_full_build_the_database_lacks_is_built_too(
    both: tuple[Prepared, Prepared],
) -> None:
    """A database no full build has made ml_drift in yet: the frequent run builds it (its
    ml_alerts reads it) instead of failing."""
    often, _ = both
    with connect(often.url) as conn:
        conn.execute("drop table ml.ml_drift")
    assert "ran " in run_often(_resident(often), force=True)
    assert scalar(often.url, "select count(*) from ml.ml_drift") > 0


def test_run_every_runs_on_its_period_and_reports_each_run(
    both: tuple[Prepared, Prepared], capsys: pytest.CaptureFixture[str]
) -> None:
    """`run-often --every`: each run a timestamped line, then the alerts' delivery; nothing
    new, no dbt; a change of the project (a model edited) is new, and the run parses it."""
    often, _ = both
    resident = _resident(often)
    run_often(resident, force=True)
    capsys.readouterr()
    delivered: list[str] = []
    run_every(resident, seconds=0, runs=2, after=lambda: delivered.append("notify"))
    lines = capsys.readouterr().out.splitlines()
    assert delivered == ["notify", "notify"]
    assert [line.split(" ", 1)[1] for line in lines] == [
        "nothing new since the last run: no new log lines, no change of version or label"
    ] * 2
    model = often.project / "models" / "marts" / "monitoring" / "ml_stats_windows.sql"
    model.write_text(model.read_text() + "\n-- edited\n")
    run_every(resident, seconds=0, runs=1)
    assert "ran " in capsys.readouterr().out.splitlines()[-1]
