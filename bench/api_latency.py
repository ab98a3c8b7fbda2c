"""API latency: p50/p99 of status, stats and analyze under 16 concurrent clients on loopback,
beside the old system's queries (a COUNT over ml_predictions per request) in the same run.

    .venv/bin/python -m bench.api_latency --rows 10000000

The rows are SYNTHETIC: the script creates the API's tables (as the dbt contracts define them)
in a database of its own (`logml_bench_api`, on DATABASE_URL's server or the embedded one), fills
ml_predictions with generated rows, then derives ml_stats_hourly, ml_stats_windows and
ml_status from them in SQL the way the dbt models do; the database is dropped afterwards unless
--keep. The API runs as `python -m api` in a subprocess with API_WORKERS=2 (one per core); each
phase sends a bounded number of requests (and stops at a time limit). The old
queries run as bare SQL through psycopg, without any HTTP layer: that is the least the old
endpoint spent, so the ratios understate the difference. Results: bench/results/api_latency.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable

import psycopg
import psycopg.conninfo

from dbt_project.database import PROJECT_ROOT
from tests.python.harness.api import start_api
from tests.python.harness.db import scratch_database
from tests.python.harness.load import KeepAliveClient

BENCH_DATABASE = "logml_bench_api"
VERSION = "bench-synthetic"

DDL = """
create schema if not exists ml;
create table ml.ml_predictions (
    log_entry_id bigint, model_version text, predicted_level text, level_confidence float8,
    logged_level text, level_disagrees boolean, is_anomaly boolean, anomaly_score float8,
    anomaly_confidence float8, severity text, explanation text, logged_at timestamptz,
    service text, host text, source_type text, log_id text, message text,
    predicted_at timestamptz
);
create table ml.ml_stats_hourly (
    hour timestamptz, model_version text, service text, logged_level text,
    predicted_level text, severity text, predictions bigint, anomalies bigint,
    level_disagreements bigint, anomaly_score_sum float8, last_predicted_at timestamptz
);
create table ml.ml_stats_windows (
    window_name text, window_start timestamptz, window_end timestamptz, model_version text,
    severity text, predictions bigint, anomalies bigint, level_disagreements bigint
);
create table ml.ml_status (
    active_model_version text, latest_prediction_at timestamptz, latest_log_at timestamptz,
    total_predictions bigint, anomaly_count bigint, high_severity_count bigint,
    logs_available boolean, predictions_available boolean, last_run_at timestamptz,
    next_run_due_at timestamptz
);
"""

# Synthetic predictions: 30 days of logs, 2% anomalies, severity by the documented rule,
# scored over the last 7 days (so the old "last 24 hours" query has about 1/7 of the rows).
FILL = """
insert into ml.ml_predictions
select g, %(version)s, lvl, 0.5 + 0.5 * random(), logged,
       logged <> lvl, anomaly, score, 0.5 + 0.5 * random(),
       case when anomaly then 'high' when lvl in ('ERROR', 'FATAL') then 'medium'
            when lvl = 'WARN' then 'low' else 'info' end,
       'synthetic row', logged_at, 'svc-' || (g %% 12), 'host-' || (g %% 40), 'application',
       'syn-' || g, 'synthetic log line ' || g,
       now() - make_interval(secs => 7 * 86400.0 * (%(rows)s - g) / %(rows)s::float8)
from (
    select g,
           (array['DEBUG', 'INFO', 'INFO', 'INFO', 'WARN', 'ERROR', 'FATAL'])[1 + g %% 7] as lvl,
           (array['DEBUG', 'INFO', 'INFO', 'WARN', 'INFO', 'ERROR', 'ERROR'])[1 + g %% 7]
               as logged,
           g %% 50 = 0 as anomaly,
           case when g %% 50 = 0 then 0.8 + 0.2 * random() else 0.6 * random() end as score,
           timestamptz '2026-01-01' + make_interval(secs => 30 * 86400.0 * g / %(rows)s::float8)
               as logged_at
    from generate_series(1, %(rows)s) as g
) as synthetic
"""

DERIVE = """
create unique index on ml.ml_predictions (model_version, log_entry_id);
create index on ml.ml_predictions (logged_at);
create index on ml.ml_predictions (model_version, logged_at);
create index on ml.ml_predictions (predicted_at);
insert into ml.ml_stats_hourly
select date_trunc('hour', logged_at), model_version, coalesce(service, '(none)'),
       coalesce(logged_level, '(unknown)'), predicted_level, severity, count(*),
       count(*) filter (where is_anomaly), count(*) filter (where level_disagrees),
       sum(anomaly_score), max(predicted_at)
from ml.ml_predictions group by 1, 2, 3, 4, 5, 6;
create index on ml.ml_stats_hourly (model_version, hour);
insert into ml.ml_stats_windows
select w.name, e.window_end - w.length, e.window_end, e.model_version, s.severity,
       coalesce(sum(h.predictions), 0), coalesce(sum(h.anomalies), 0),
       coalesce(sum(h.level_disagreements), 0)
from (select model_version, max(hour) + interval '1 hour' as window_end
      from ml.ml_stats_hourly group by 1) as e
cross join (values ('1h', interval '1 hour'), ('24h', interval '24 hours'),
                   ('7d', interval '7 days')) as w (name, length)
cross join unnest(array['high', 'medium', 'low', 'info']) as s (severity)
left join ml.ml_stats_hourly as h
    on h.model_version = e.model_version and h.severity = s.severity
   and h.hour >= e.window_end - w.length and h.hour < e.window_end
group by 1, 2, 3, 4, 5;
insert into ml.ml_status
select %(version)s, max(last_predicted_at), max(hour) + interval '1 hour', sum(predictions),
       sum(anomalies), sum(predictions) filter (where severity = 'high'), true, true, now(),
       now() + interval '6 hours'
from ml.ml_stats_hourly;
analyze ml.ml_predictions;
analyze ml.ml_stats_hourly;
"""

# What the old serverless function ran per request (a COUNT over all predictions each time).
OLD_QUERIES = {
    "status": "select count(*), max(predicted_at) from ml.ml_predictions",
    "stats": (
        "select severity, count(*), count(*) filter (where is_anomaly) from ml.ml_predictions"
        " where predicted_at >= now() - interval '24 hours' group by severity"
    ),
    "analyze": (
        "select log_entry_id, predicted_level, level_confidence, is_anomaly, anomaly_score,"
        " severity, predicted_at, log_id, message from ml.ml_predictions"
        " order by predicted_at desc limit 100"
    ),
}
NEW_PATHS = {
    "status": "/api/ml_lightweight?action=status",
    "stats": "/api/ml_lightweight?action=stats",
    "analyze": "/api/ml_lightweight?action=analyze",
}


def prepare(url: str, rows: int) -> None:
    """Fill the bench database with `rows` synthetic predictions and derived tables (kept from
    an earlier run with --keep when it has exactly that many)."""
    with psycopg.connect(url, autocommit=True) as conn:
        if conn.execute("select to_regclass('ml.ml_status') is not null").fetchone() == (True,):
            found = conn.execute("select total_predictions from ml.ml_status").fetchone()
            if found == (rows,):
                print(f"reusing the kept {rows:,} synthetic predictions", flush=True)
                return
        conn.execute("drop schema if exists ml cascade")
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(DDL)
        conn.execute(FILL, {"version": VERSION, "rows": rows})
        # One statement at a time: psycopg binds parameters per statement.
        for statement in DERIVE.split(";\n"):
            if statement.strip():
                conn.execute(statement, {"version": VERSION} if "%(" in statement else None)
    print(f"filled {rows:,} synthetic predictions in {time.perf_counter() - started:.0f} s")


def _checked(path: str, answer: tuple[int, bytes]) -> None:
    status, body = answer
    if status != 200 or b'"success":true' not in body:
        raise RuntimeError(f"{path}: HTTP {status} {body[:200]!r}")


async def run_phase(
    make_call: Callable[[], Awaitable[Callable[[], Awaitable[None]]]],
    clients: int,
    requests: int,
    seconds: float,
) -> list[float]:
    """`clients` closed-loop clients share `requests` calls, stopping early at `seconds`."""
    latencies: list[float] = []
    remaining = requests
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal remaining
        call = await make_call()
        while remaining > 0 and time.perf_counter() < deadline:
            remaining -= 1
            started = time.perf_counter()
            await call()
            latencies.append((time.perf_counter() - started) * 1000)

    await asyncio.gather(*(client() for _ in range(clients)))
    return latencies


def summary(latencies: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return {"requests": len(latencies), "p50_ms": cuts[49], "p99_ms": cuts[98]}


async def measure(url: str, port: int, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    http_clients: list[KeepAliveClient] = []
    db_connections: list[psycopg.AsyncConnection] = []
    try:
        for action, path in NEW_PATHS.items():

            async def http_call(path: str = path) -> Callable[[], Awaitable[None]]:
                client = KeepAliveClient(port)
                http_clients.append(client)

                async def call() -> None:
                    _checked(path, await client.get(path))

                return call

            # Warm-up: pool connections opened, statements prepared, pages cached.
            await run_phase(http_call, args.clients, args.clients * 20, args.seconds)
            latencies = await run_phase(http_call, args.clients, args.requests, args.seconds)
            results[f"new {action}"] = summary(latencies)
            print(f"new {action}: {results[f'new {action}']}", flush=True)
        for action, query in OLD_QUERIES.items():

            async def sql_call(query: str = query) -> Callable[[], Awaitable[None]]:
                conn = await psycopg.AsyncConnection.connect(url, autocommit=True)
                db_connections.append(conn)

                async def call() -> None:
                    await (await conn.execute(query)).fetchall()

                return call

            latencies = await run_phase(sql_call, args.clients, args.old_requests, args.old_seconds)
            results[f"old {action}"] = summary(latencies)
            print(f"old {action}: {results[f'old {action}']}", flush=True)
    finally:
        for client in http_clients:
            client.close()
        for conn in db_connections:
            await conn.close()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="synthetic predictions")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers (API_WORKERS)")
    parser.add_argument("--requests", type=int, default=4000, help="per new endpoint")
    parser.add_argument("--seconds", type=float, default=60, help="time limit per new endpoint")
    parser.add_argument("--old-requests", type=int, default=160, help="per old query")
    parser.add_argument(
        "--keep", action="store_true", help=f"keep {BENCH_DATABASE} for the next run"
    )
    parser.add_argument("--old-seconds", type=float, default=120, help="time limit per old query")
    args = parser.parse_args(argv)

    load_before = os.getloadavg()[0]
    with scratch_database(BENCH_DATABASE, keep=args.keep, reuse=True) as url:
        prepare(url, args.rows)
        # The bench tables belong to the bench database's owner, so the API connects as that
        # user; its sessions are read-only all the same (api/database.py).
        api = start_api(url, {"API_WORKERS": str(args.workers)})
        try:
            results = asyncio.run(measure(url, int(api.base.rsplit(":", 1)[1]), args))
        finally:
            api.stop()

    ratios = {
        action: results[f"old {action}"]["p50_ms"] / results[f"new {action}"]["p50_ms"]
        for action in NEW_PATHS
    }
    report = {
        "rows": args.rows,
        "synthetic": True,
        "clients": args.clients,
        "workers": args.workers,
        # Other work on the machine shows in the tails: the 1-minute load around the run.
        "load_average_1min": {"before": load_before, "after": os.getloadavg()[0]},
        "results": results,
        "p50_speedup": ratios,
        "targets": {
            "p99_status_and_stats_le_20ms": all(
                results[f"new {a}"]["p99_ms"] <= 20 for a in ("status", "stats")
            ),
            "p50_speedup_ge_20x": all(ratios[a] >= 20 for a in ("status", "stats")),
        },
    }
    out = PROJECT_ROOT / "bench" / "results" / "api_latency.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\n{'':16}{'requests':>9}{'p50 ms':>10}{'p99 ms':>10}")
    for name, row in results.items():
        print(f"{name:16}{row['requests']:>9}{row['p50_ms']:>10.2f}{row['p99_ms']:>10.2f}")
    for action, ratio in ratios.items():
        print(f"p50 speed-up {action}: {ratio:.0f}x")
    print(f"targets: {report['targets']}  (written to {out.relative_to(PROJECT_ROOT)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
