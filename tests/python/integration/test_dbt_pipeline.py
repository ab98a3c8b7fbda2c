"""The dbt project end to end, on the real embedded PostgreSQL with real dbt and the real
compiler: load generated logs -> staging -> model_export export -> dbt build, then the
incremental semantics (only new logs, exactly once, re-runs change nothing, overlapping runs,
a new model version, rescoring a window) and the predictions against the joblib Pipelines."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from dbt_project.database import connect
from dev.db import checksum, scalar
from dev.pipeline import (
    create_source,
    dbt,
    export,
    load_generated,
    model_export,
    project_copy,
    rows_scored,
    start_dbt,
)

pytestmark = pytest.mark.slow

ROWS = 3000
LOCK_KEY = "logml.ml_predictions"


def _active_version(url: str) -> str:
    return str(scalar(url, "select active_model_version from ml.ml_status"))


@pytest.fixture(scope="module")
def built(module_db: str, dbt_project_copy: Path) -> tuple[str, Path]:
    """A database with ROWS generated logs, an exported model and a green `dbt build`."""
    create_source(module_db)
    load_generated(module_db, ROWS, seed=11)
    export(module_db, dbt_project_copy)
    dbt(dbt_project_copy, module_db, "build", unit_tests=True, artifacts=True)
    return module_db, dbt_project_copy


def test_build_scores_every_log_once_with_the_active_version(built: tuple[str, Path]) -> None:
    url, project = built
    version = scalar(url, "select model_version from ml.ml_model_registry where is_active limit 1")
    assert _active_version(url) == version
    assert (
        scalar(url, "select count(*) from ml.ml_predictions where model_version = %s", (version,))
        == ROWS
    )
    assert rows_scored(project) == ROWS
    status_total = scalar(url, "select total_predictions from ml.ml_status")
    assert status_total == ROWS


def test_rerun_changes_no_row(built: tuple[str, Path]) -> None:
    url, project = built
    before = {t: checksum(url, t) for t in ("ml.ml_predictions", "ml.ml_stats_hourly")}
    dbt(project, url, "run", artifacts=True)
    assert rows_scored(project) == 0
    assert {t: checksum(url, t) for t in before} == before


def test_appended_logs_are_scored_exactly_once_even_with_old_timestamps(
    built: tuple[str, Path],
) -> None:
    url, project = built
    old_rows = checksum(url, "ml.ml_predictions")
    watermark = scalar(url, "select max(log_entry_id) from ml.ml_predictions")
    # late-arriving lines: new ids, timestamps three days before the first load's end
    load_generated(url, 200, seed=12, end="2026-11-17T12:00:00+00:00")
    dbt(project, url, "build", artifacts=True)
    assert rows_scored(project) == 200
    assert checksum(url, "ml.ml_predictions", f"log_entry_id <= {watermark}") == old_rows
    assert scalar(url, "select count(*) from ml.ml_predictions") == ROWS + 200


def test_ids_committed_out_of_order_below_the_watermark_are_caught(
    built: tuple[str, Path],
) -> None:
    url, project = built
    top = int(scalar(url, "select max(id) from log_entries"))
    insert = (
        'insert into log_entries (id, "timestamp", level, message) '
        "select g, timestamptz '2026-11-20 10:00+00', 'INFO', 'late commit ' || g "
        "from generate_series(%s::bigint, %s::bigint) g"
    )
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute(insert, (top + 10, top + 12))  # committed first, higher ids
    dbt(project, url, "run", "-s", "ml_predictions")
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute(insert, (top + 1, top + 9))  # a slower transaction's lower ids
        cur.execute("select setval(pg_get_serial_sequence('log_entries', 'id'), %s)", (top + 12,))
    dbt(project, url, "build", artifacts=True)
    assert rows_scored(project) == 9
    assert (
        scalar(
            url,
            "select count(*) from ml.ml_predictions where log_entry_id between %s and %s",
            (top + 1, top + 12),
        )
        == 12
    )


def test_overlapping_runs_never_score_a_log_twice(built: tuple[str, Path]) -> None:
    url, project = built
    load_generated(url, 300, seed=13)
    # Hold the scoring lock so that both runs are provably inside the model at once, waiting.
    with connect(url) as holder, holder.cursor() as cur:
        cur.execute("select pg_advisory_lock(hashtext(%s))", (LOCK_KEY,))
        runs = [
            start_dbt(project, url, "run", "-s", "ml_predictions", target=target)
            for target in ("target_a", "target_b")
        ]
        deadline = time.monotonic() + 120
        waiting = 0
        while waiting < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
            cur.execute(
                "select count(*) from pg_locks where locktype = 'advisory' and not granted "
                "and objid = hashtext(%s)::oid",
                (LOCK_KEY,),
            )
            waiting = cur.fetchone()[0]
        cur.execute("select pg_advisory_unlock(hashtext(%s))", (LOCK_KEY,))
    outputs = [run.communicate(timeout=300)[0] for run in runs]
    assert waiting == 2, "both runs should have waited on the scoring lock"
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert sorted(rows_scored(project, t) for t in ("target_a", "target_b")) == [0, 300]
    assert (
        scalar(
            url,
            "select count(*) - count(distinct (model_version, log_entry_id)) "
            "from ml.ml_predictions",
        )
        == 0
    )
    dbt(project, url, "build")  # the stats and the singular tests catch up and hold


def test_predictions_equal_the_joblib_pipelines_after_incremental_runs(
    built: tuple[str, Path],
) -> None:
    url, project = built
    model_export(url, project, "verify", "--from-predictions", "--rows", "0")


def test_a_new_version_scores_new_logs_and_rescores_a_window_on_request(
    built: tuple[str, Path],
) -> None:
    url, project = built
    previous = _active_version(url)
    export(url, project)
    dbt(project, url, "build")
    version = _active_version(url)
    assert version != previous
    count = "select count(*) from ml.ml_predictions where model_version = %s"
    assert scalar(url, count, (version,)) == 0  # old logs keep the previous version's rows

    load_generated(url, 50, seed=14)
    dbt(project, url, "build")
    assert scalar(url, count, (version,)) == 50

    since = "2026-11-19T00:00:00+00:00"
    expected = scalar(
        url,
        "select count(*) from log_entries where id >= "
        '(select min(id) from log_entries where "timestamp" >= %s)',
        (since,),
    )
    dbt(project, url, "build", "--vars", json.dumps({"rescore_from": since}))
    assert scalar(url, count, (version,)) == expected
    total = int(scalar(url, "select count(*) from log_entries"))
    assert scalar(url, count, (previous,)) == total - 50  # untouched
    assert expected < total  # a window, not everything


def test_analyses_compile_and_run(built: tuple[str, Path]) -> None:
    url, project = built
    dbt(project, url, "compile", "-s", "resource_type:analysis")
    compiled = sorted((project / "target" / "compiled" / "logml" / "analyses").glob("*.sql"))
    assert [p.stem for p in compiled] == [
        "anomaly_rate_by_hour",
        "level_disagreements_by_service",
        "model_version_changes",
        "todays_worst_anomalies",
    ]
    counts = {}
    with connect(url) as conn, conn.cursor() as cur:
        for path in compiled:
            cur.execute(path.read_text())
            counts[path.stem] = len(cur.fetchall())
    # the generated logs span days and several services; the rescored window overlaps versions
    assert counts["anomaly_rate_by_hour"] > 24
    assert counts["level_disagreements_by_service"] > 1
    assert counts["model_version_changes"] > 0


def test_docs_describe_every_model_and_column(built: tuple[str, Path]) -> None:
    url, project = built
    dbt(project, url, "docs", "generate", artifacts=True)
    manifest = json.loads((project / "target" / "manifest.json").read_text())
    catalog = json.loads((project / "target" / "catalog.json").read_text())
    models = {k: n for k, n in manifest["nodes"].items() if n["resource_type"] == "model"}
    assert {n["name"] for n in models.values()} >= {
        "ml_predictions",
        "ml_stats_hourly",
        "ml_stats_windows",
        "ml_status",
        "ml_model_health",
        "ml_drift",
        "ml_alerts",
        "ml_model_comparison",
        "ml_model_versions",
        "int_model_versions_rolled_up",
        "stg_log_entries",
        "stg_registry__trained_models",
        "stg_registry__deployments",
    }
    undocumented = [n["name"] for n in models.values() if not n["description"].strip()]
    for key, node in models.items():
        described = {c for c, col in node["columns"].items() if col["description"].strip()}
        if node["config"]["materialized"] == "ephemeral":  # no relation: its YAML lists them
            assert node["columns"], f"{node['name']} lists no columns"
            in_database = set(node["columns"])
        else:
            in_database = set(catalog["nodes"][key]["columns"])
        undocumented += [f"{node['name']}.{c}" for c in sorted(in_database - described)]
    assert undocumented == []
    exposures = {e["name"] for e in manifest["exposures"].values()}
    assert exposures >= {"api_old_frontend", "api_v1", "dashboard", "alert_notifier"}


def test_reader_role_selects_outputs_only(built: tuple[str, Path]) -> None:
    url, _ = built
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute("select rolcanlogin from pg_roles where rolname = 'logml_reader'")
        assert cur.fetchone() == (False,)
        cur.execute("select pg_has_role('logml_api', 'logml_reader', 'member')")
        assert cur.fetchone() == (True,)
        cur.execute("set role logml_reader")
        for table in (
            "ml_predictions",
            "ml_stats_hourly",
            "ml_stats_windows",
            "ml_status",
            "ml_model_health",
            "ml_drift",
            "ml_model_registry",
        ):
            cur.execute(f"select count(*) from ml.{table}")
        with pytest.raises(Exception, match="permission denied"):
            cur.execute("select count(*) from public.log_entries")
        with pytest.raises(Exception, match="permission denied"):
            cur.execute("delete from ml.ml_predictions")


def test_build_is_green_on_a_source_with_only_the_required_columns(
    make_database: Callable[[str], str],
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = make_database("minimal")
    project = tmp_path_factory.mktemp("minimal_project")
    project_copy(project)
    # the environment variables the source's vars default to (dbt and the export read them)
    monkeypatch.setenv("LOG_SOURCE_SCHEMA", "app")
    monkeypatch.setenv("LOG_SOURCE_TABLE", "events")
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute("create schema app")
        cur.execute(
            'create table app.events (id bigserial primary key, "timestamp" timestamptz not null,'
            " level text, message text not null)"
        )
        cur.execute(
            'insert into app.events ("timestamp", level, message) '
            "select timestamptz '2026-11-20 00:00+00' + g * interval '1 minute', "
            "(array['info', 'warning', 'error', 'debug', 'bogus'])[1 + g % 5], "
            "(array['user %s logged in', 'disk %s nearly full', 'request %s failed: timeout', "
            "'cache lookup key=%s', 'worker %s heartbeat'])[1 + g % 5] || ' ' || g "
            "from generate_series(1, 1500) g"
        )
    export(url, project)
    dbt(project, url, "build")
    assert scalar(url, "select count(*) from ml.ml_predictions") == 1500
    assert scalar(url, "select count(*) from ml.ml_predictions where service is not null") == 0


def test_every_dbt_unit_test_passes(built: tuple[str, Path]) -> None:
    """dbt's unit tests, which the other modules' builds leave out (dev.pipeline.dbt)."""
    url, project = built
    dbt(project, url, "test", "--select", "test_type:unit", artifacts=True)
    defined = json.loads((project / "target" / "manifest.json").read_text())["unit_tests"]
    results = json.loads((project / "target" / "run_results.json").read_text())["results"]
    assert len(defined) >= 10
    outcomes = {r["unique_id"]: r["status"] for r in results if r["unique_id"] in defined}
    assert outcomes == dict.fromkeys(defined, "pass")
