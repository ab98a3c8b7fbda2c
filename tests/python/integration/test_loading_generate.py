"""The built-in generator: deterministic, realistic, loaded with COPY through the CLI."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from dbt_project.database import job_connection
from dev.db import fetch_all
from dev.pipeline import create_source, run_module
from ingest.generator import GeneratorSpec
from ingest.session import load_generated

END = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
ROWS = 30_000


@pytest.fixture(scope="module")
def generated(module_db: str) -> str:
    assert run_module(module_db, "ingest", "create-source").returncode == 0
    options = ("--rows", str(ROWS), "--seed", "3", "--end", END.isoformat())
    result = run_module(module_db, "ingest", "generate", *options)
    assert result.returncode == 0, result.stderr
    assert f"loaded {ROWS:,}" in result.stdout
    return module_db


def test_rows_ids_and_window(generated: str) -> None:
    [(n, ids, first, last, in_order)] = fetch_all(
        generated,
        'select count(*), count(distinct log_id), min("timestamp"), max("timestamp"), '
        'bool_and(ts_ok) from (select log_id, "timestamp", "timestamp" >= lag("timestamp", 1, '
        '"timestamp") over (order by id) as ts_ok from log_entries) t',
    )
    assert n == ids == ROWS
    assert END - timedelta(days=7) <= first < last <= END
    assert in_order  # ids follow time, like an append-only log table
    assert fetch_all(generated, "select min(log_id) from log_entries where id = 1") == [
        ("gen-3-0",)
    ]


def test_a_load_leaves_fresh_planner_statistics(generated: str) -> None:
    """The loader analyses what it loaded (dbt plans its queries seconds later, long before
    autovacuum would): the planner's row estimate is the table's real size."""
    [(estimate, analysed)] = fetch_all(
        generated,
        "select c.reltuples, s.last_analyze is not null from pg_class as c"
        " join pg_stat_user_tables as s on s.relid = c.oid where c.oid = 'log_entries'::regclass",
    )
    assert analysed and estimate == ROWS


def test_level_mix_is_mostly_info(generated: str) -> None:
    shares = dict(
        fetch_all(
            generated,
            "select level::text, count(*)::float / sum(count(*)) over () "
            "from log_entries group by 1",
        )
    )
    assert 0.6 < shares["INFO"] < 0.8
    assert 0.05 < shares["DEBUG"] < 0.25
    assert 0.05 < shares["WARN"] < 0.2
    assert 0.01 < shares["ERROR"] < 0.08
    assert 0 < shares["FATAL"] < 0.01


def test_many_services_and_hosts(generated: str) -> None:
    rows = fetch_all(
        generated, "select service, count(distinct host), count(*) from log_entries group by 1"
    )
    assert len(rows) >= 12
    assert all(hosts >= 2 for _, hosts, _ in rows)
    assert {s for s, _, _ in rows} >= {"api-gateway", "auth", "payments", "orders", "search"}
    distinct = fetch_all(
        generated, "select count(distinct message)::float / count(*) from log_entries"
    )
    assert distinct[0][0] > 0.5  # variable parts: ids, durations, IPs, paths


def test_incidents_are_labelled_bursts_on_one_service(generated: str) -> None:
    [(anomalies, typed, untyped_normal)] = fetch_all(
        generated,
        "select count(*) filter (where is_anomaly), "
        "count(*) filter (where is_anomaly and anomaly_type is not null), "
        "count(*) filter (where not is_anomaly and anomaly_type is not null) from log_entries",
    )
    assert anomalies == typed == round(ROWS * 0.015)
    assert untyped_normal == 0
    # Incidents are bursts (at most 90 minutes) on one service: split each (type, service)'s
    # rows at gaps over 90 minutes; that gives at most one cluster per planned incident
    # (7 days -> 14), together covering a sliver of the window, and error-heavy.
    rows = fetch_all(
        generated,
        'select anomaly_type, service, "timestamp", level::text from log_entries '
        "where is_anomaly order by 1, 2, 3",
    )
    clusters: list[list[tuple]] = []
    for row in rows:
        last = clusters[-1][-1] if clusters else None
        if last and last[:2] == row[:2] and row[2] - last[2] <= timedelta(minutes=90):
            clusters[-1].append(row)
        else:
            clusters.append([row])
    assert 3 <= len(clusters) <= 14
    assert sum((c[-1][2] - c[0][2] for c in clusters), timedelta()) <= timedelta(hours=21)
    bad = sum(r[3] in ("WARN", "ERROR", "FATAL") for r in rows) / len(rows)
    assert bad > 0.6


def test_http_columns_match_the_message(generated: str) -> None:
    [(http_rows, mismatched, non_http)] = fetch_all(
        generated,
        "select count(*) filter (where http_status is not null), "
        "count(*) filter (where http_status is not null and (position(http_status::text in "
        "message) = 0 or position(response_time_ms::int::text || 'ms' in message) = 0)), "
        "count(*) filter (where http_status is not null and category <> 'http') from log_entries",
    )
    assert http_rows > ROWS * 0.2
    assert mismatched == non_http == 0


def test_some_lines_are_mislabelled_or_ambiguous(generated: str) -> None:
    [(info_errorish, error_benign)] = fetch_all(
        generated,
        "select count(*) filter (where level = 'INFO' and message ~* 'error|fail|exception'), "
        "count(*) filter (where level = 'ERROR' and message like 'cache hit%') from log_entries",
    )
    assert info_errorish > 0  # "retry succeeded after error", failed fraud check...
    assert error_benign > 0  # a routine line logged at ERROR (mislabelled)


def test_if_empty_and_reloading_a_seed(generated: str) -> None:
    options = ("ingest", "generate", "--rows", "500", "--seed", "3")
    again = run_module(generated, *options, "--if-empty")
    assert again.returncode == 0 and "nothing generated" in again.stdout
    same_seed = run_module(generated, *options)
    assert same_seed.returncode == 2
    assert "already in the table" in same_seed.stderr
    assert fetch_all(generated, "select count(*) from log_entries") == [(ROWS,)]


def test_if_empty_loads_into_an_empty_table(make_database: Callable[[str], str]) -> None:
    url = make_database("gen_empty")
    create_source(url)
    with job_connection(url) as conn:
        spec = GeneratorSpec(rows=2_000, seed=1, end=END)
        report = load_generated(conn, spec, if_empty=True)
    assert report.rows_loaded == 2_000
    assert fetch_all(url, "select rows_loaded from ml.log_loads") == [(2_000,)]
