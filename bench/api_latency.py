"""API latency: p50/p99 of EVERY endpoint (the old frontend's, /api/v1, the page and /docs)
under 16 concurrent clients on loopback, all in one run, each beside two baselines measured in
the same run: the same SQL the endpoint runs, sent bare through psycopg (what the HTTP layer
adds is the difference), and, for the old frontend's endpoints, the old system's own queries.
Where that SQL redacts what it serves (logml_redact, docs/concepts/redaction.md), it is also
sent with every logml_redact(x) read as (x): what redaction adds is the difference.

    .venv/bin/python -m bench.api_latency --rows 10000000

The rows are SYNTHETIC (bench/api_tables.py): every table the API reads, as the dbt contracts
define them, in a database of its own (`logml_bench_api`, on DATABASE_URL's server or the
embedded one), dropped afterwards unless --keep. The API runs as `python -m api` in a
subprocess with API_WORKERS=2 (one per core); each phase sends a bounded number of requests
(and stops at a time limit). The old system's queries ran per request against its tables; here
they run bare (no HTTP layer, so the ratios understate the difference) against the synthetic
predictions, which stand in for both log_entries and the old ml_predictions; their NOW() is the
newest synthetic timestamp, so "the last 24 hours" holds a day of rows as it did in production.
The API runs with its shipped response cache (API_CACHE_SECONDS, api/cache.py) unless
--cache-seconds says otherwise; `--cache-seconds 0` measures every request's own queries.
Results: bench/results/api_latency.json (api_latency_cache0s.json with the cache off).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import psutil
import psycopg

from api import queries
from api.legacy import queries as legacy
from bench.api_tables import prepare
from dbt_project.database import PROJECT_ROOT
from dbt_project.scratch import scratch_database
from dbt_project.settings import Settings
from dbt_project.vocabulary import VOCABULARY
from dev.api_load import KeepAliveClient
from dev.api_server import start_api

DEFAULT_CACHE_SECONDS = Settings.model_fields["api_cache_seconds"].default

BENCH_DATABASE = "logml_bench_api"
Sql = tuple[Any, dict[str, Any] | None]  # (query, parameters)

# The old system's stand-ins for NOW(): the newest synthetic log and prediction.
LOG_NOW = "(select max(logged_at) from ml.ml_predictions)"
PREDICTED_NOW = "(select max(predicted_at) from ml.ml_predictions)"
LOG_DAY = f"logged_at > {LOG_NOW} - interval '24 hours'"
PREDICTED_DAY = f"predicted_at > {PREDICTED_NOW} - interval '24 hours'"
LOOKUP_IDS = [5, 1_000, 99_999]
REDACTION_CALL = re.compile(r'"?\blogml_redact(?:_json)?"?\(')  # also as a quoted identifier


@dataclass(frozen=True)
class Endpoint:
    name: str
    path: str
    body: bytes | None = None  # POST when set
    bare: list[Sql] = field(default_factory=list)  # the SQL the endpoint runs, in order
    old: list[Sql] = field(default_factory=list)  # the old system's per-request queries


def unredacted(statements: list[Sql]) -> list[Sql] | None:
    """The statements with every logml_redact(x) call read as (x); None when none redacts."""
    texts = [(q if isinstance(q, str) else q.as_string(None), p) for q, p in statements]
    if not any(REDACTION_CALL.search(text) for text, _ in texts):
        return None
    return [(REDACTION_CALL.sub("(", text), params) for text, params in texts]


def _filters(**values: Any) -> dict[str, Any]:
    names = ("model_version", "since", "until", "severity", "is_anomaly", "level_disagrees")
    names += ("logged_level", "predicted_level", "service", "cursor")
    return {**dict.fromkeys(names), **values}


def endpoints() -> list[Endpoint]:
    """Every endpoint, with the SQL behind it and the old system's queries where it had one."""
    day, latest = {"window": "24h"}, {"window": "24h", "model_version": None}
    severities = {**latest, "severities": list(VOCABULARY.severities)}
    page: dict[str, Any] = {
        "hours": 720,
        "level": None,
        "source": None,
        "search": None,
        "limit": 20,
        "offset": 0,
    }
    predictions = _filters(limit=51)
    alert_filters = {"kind": None, "severity": None, "state": None, "service": None, "limit": 100}
    return [
        Endpoint(
            "ml_lightweight status", "/api/ml_lightweight?action=status",
            bare=[(queries.STATUS, None)],
            old=[("select count(*), max(predicted_at) from ml.ml_predictions", None)],
        ),
        Endpoint(
            "ml_lightweight analyze", "/api/ml_lightweight?action=analyze",
            bare=[(legacy.ANALYZE, None)],
            old=[(
                "select log_entry_id, predicted_level, level_confidence, is_anomaly,"
                " anomaly_score, severity, predicted_at, log_id, message, logged_level"
                " from ml.ml_predictions order by predicted_at desc limit 100", None,
            )],
        ),
        Endpoint(
            "ml_lightweight stats", "/api/ml_lightweight?action=stats",
            bare=[(legacy.WINDOW, day)],
            old=[(
                "select severity, count(*), count(*) filter (where is_anomaly)"
                f" from ml.ml_predictions where {PREDICTED_DAY} group by severity"
                " order by 2 desc", None,
            )],
        ),
        Endpoint(
            "metrics", "/api/metrics",
            bare=[(legacy.WINDOW, day), (legacy.LOGGED_LEVELS, day)],
            old=[
                (
                    "select count(*), avg(level_confidence), count(*) filter"
                    " (where logged_level = 'FATAL'), count(*) filter (where logged_level ="
                    f" 'ERROR') from ml.ml_predictions where {LOG_DAY}", None,
                ),
                (
                    "select count(*) filter (where is_anomaly and severity = 'high'), count(*)"
                    f" from ml.ml_predictions where {PREDICTED_DAY}", None,
                ),
            ],
        ),
        Endpoint(
            "service_health", "/api/service_health",
            bare=[(legacy.HEALTH_INPUTS, None)],
            old=[("select 1", None)],
        ),
        Endpoint(
            "dashboard_analytics", "/api/dashboard_analytics?_t=1",
            bare=[(legacy.HOURLY_VOLUME, day), (legacy.LOGGED_LEVELS, day)],
            old=[
                (
                    "select date_trunc('hour', logged_at), count(*) from ml.ml_predictions"
                    f" where {LOG_DAY} group by 1 order by 1", None,
                ),
                (
                    "select logged_level, count(*) from ml.ml_predictions"
                    f" where {LOG_DAY} group by 1", None,
                ),
            ],
        ),
        Endpoint(
            "monitoring", "/api/monitoring",
            bare=[
                (legacy.MONITORING_TOTALS, None),
                (legacy.LOGGED_LEVELS, day),
                (legacy.MONITORING_LINES, day),
            ],
            old=[
                (
                    "select * from ml.ml_predictions where logged_level in ('ERROR', 'FATAL')"
                    f" and {LOG_DAY} order by logged_at desc limit 50", None,
                ),
                (
                    "select percentile_cont(array[0.5, 0.95, 0.99]) within group"
                    " (order by level_confidence), min(level_confidence), max(level_confidence),"
                    f" avg(level_confidence), count(*) from ml.ml_predictions where {LOG_DAY}",
                    None,
                ),
                ("select pg_database_size(current_database())", None),
                ("select count(*) from ml.ml_predictions", None),
                (
                    "select logged_level, count(*) from ml.ml_predictions"
                    f" where {LOG_DAY} group by 1", None,
                ),
                (f"select count(*) from ml.ml_predictions where {PREDICTED_DAY}", None),
                (
                    "select * from ml.ml_predictions where is_anomaly and severity = 'high'"
                    f" and {PREDICTED_DAY} order by predicted_at desc limit 25", None,
                ),
            ],
        ),
        Endpoint(
            "logs", "/api/logs?page=1&pageSize=20&timeRange=30d",
            bare=[(legacy.logs_page(page), page), (legacy.LOG_LEVEL_COUNTS, {"hours": 720})],
            old=[
                (
                    "select * from ml.ml_predictions where logged_at > "
                    f"{LOG_NOW} - interval '30 days' order by logged_at desc limit 20 offset 0",
                    None,
                ),
                (
                    "select count(*) from ml.ml_predictions where logged_at > "
                    f"{LOG_NOW} - interval '30 days'", None,
                ),
                (
                    "select logged_level, count(*) from ml.ml_predictions where logged_at > "
                    f"{LOG_NOW} - interval '30 days' group by 1", None,
                ),
            ],
        ),
        Endpoint(
            "ml (POST)", "/api/ml",
            body=json.dumps(
                {"action": "analyze", "log_data": [{"id": str(i)} for i in LOOKUP_IDS]}
            ).encode(),
            bare=[(legacy.PREDICTIONS_OF, {"ids": LOOKUP_IDS})],
            old=[(
                "select log_entry_id, predicted_level, level_confidence, anomaly_score,"
                " is_anomaly, severity, predicted_at from ml.ml_predictions"
                " where log_entry_id = any(%(ids)s)", {"ids": LOOKUP_IDS},
            )],
        ),
        Endpoint("v1 status", "/api/v1/status", bare=[(queries.STATUS, None)]),
        Endpoint(
            "v1 predictions", "/api/v1/predictions",
            bare=[(queries.predictions_page(predictions), predictions)],
        ),
        Endpoint(
            "v1 stats", "/api/v1/stats",
            bare=[(queries.WINDOW_BY_SEVERITY, severities)],
        ),
        Endpoint(
            "v1 stats/hourly", "/api/v1/stats/hourly",
            bare=[(queries.HOURLY, {"hours": 48, "model_version": None})],
        ),
        Endpoint("v1 stats/levels", "/api/v1/stats/levels", bare=[(queries.LEVELS, latest)]),
        Endpoint(
            "v1 stats/services", "/api/v1/stats/services",
            bare=[(queries.SERVICES, {**latest, "limit": 20})],
        ),
        Endpoint(
            "v1 models", "/api/v1/models",
            bare=[(queries.MODELS, None), (queries.VERSIONS, None)],
        ),
        Endpoint(
            "v1 models/comparison", "/api/v1/models/comparison",
            bare=[
                (queries.VERSIONS, None),
                (queries.NEWEST_PAIR, None),
                (queries.COMPARISON, {"first": "bench-retired", "second": "bench-synthetic",
                                      "days": 30}),
            ],
        ),
        Endpoint("v1 drift", "/api/v1/drift", bare=[(queries.DRIFT, {"model_version": None})]),
        Endpoint(
            "v1 models/health", "/api/v1/models/health",
            bare=[(queries.MODEL_HEALTH, {"days": 30, "service": None, "model_version": None})],
        ),
        Endpoint(
            "v1 alerts", "/api/v1/alerts",
            bare=[
                (queries.DELIVERIES_READABLE, None),
                (queries.alerts(alert_filters, True), alert_filters),
            ],
        ),
        Endpoint(
            "v1 templates/unlabelled", "/api/v1/templates/unlabelled",
            bare=[(queries.UNLABELLED_TEMPLATES, {"limit": 20, "model_version": None})],
        ),
        Endpoint("page /", "/"),
        Endpoint("docs /docs", "/docs"),
    ]  # fmt: skip


def _checked(endpoint: Endpoint, answer: tuple[int, bytes]) -> None:
    status, body = answer
    failed = b'"success":false' in body or b"not_initialized" in body
    if status != 200 or failed:
        raise RuntimeError(f"{endpoint.path}: HTTP {status} {body[:200]!r}")


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
    return {"requests": len(latencies), "p50_ms": round(cuts[49], 2), "p99_ms": round(cuts[98], 2)}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its children (the uvicorn workers)."""
    process = psutil.Process(pid)
    total = 0.0
    for each in (process, *process.children(recursive=True)):
        times = each.cpu_times()
        total += times.user + times.system
    return total


async def measure(
    url: str, port: int, api_pid: int, args: argparse.Namespace
) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    http_clients: list[KeepAliveClient] = []
    db_connections: list[psycopg.AsyncConnection[Any]] = []

    async def sql_phase(statements: list[Sql], requests: int, seconds: float) -> dict[str, float]:
        try:
            return summary(await run_phase(sql_call(statements), args.clients, requests, seconds))
        finally:  # one phase's connections at a time (the server allows ~100)
            for conn in db_connections:
                await conn.close()
            db_connections.clear()

    def sql_call(statements: list[Sql]) -> Callable[[], Awaitable[Callable[[], Awaitable[None]]]]:
        async def make() -> Callable[[], Awaitable[None]]:
            # as the API's sessions: the output schema on the search path
            conn = await psycopg.AsyncConnection.connect(
                url, autocommit=True, options="-c search_path=ml -c TimeZone=UTC"
            )
            db_connections.append(conn)

            async def call() -> None:
                for query, params in statements:
                    await (await conn.execute(query, params)).fetchall()

            return call

        return make

    try:
        for endpoint in endpoints():
            if args.only and not any(part in endpoint.name for part in args.only):
                continue

            async def http_call(endpoint: Endpoint = endpoint) -> Callable[[], Awaitable[None]]:
                client = KeepAliveClient(port)
                http_clients.append(client)

                async def call() -> None:
                    if endpoint.body is None:
                        _checked(endpoint, await client.get(endpoint.path))
                    else:
                        _checked(endpoint, await client.post(endpoint.path, endpoint.body))

                return call

            # Warm-up: pool connections opened, statements prepared, pages cached.
            await run_phase(http_call, args.clients, args.clients * 20, args.seconds)
            # CPU the API's processes spent per request: unlike latency, not inflated by
            # other work on the machine
            cpu_before = cpu_seconds(api_pid)
            latencies = await run_phase(http_call, args.clients, args.requests, args.seconds)
            cpu_ms = 1000 * (cpu_seconds(api_pid) - cpu_before) / len(latencies)
            row: dict[str, Any] = {
                "path": endpoint.path,
                "api": {**summary(latencies), "api_cpu_ms_per_request": round(cpu_ms, 3)},
            }
            if endpoint.bare:
                row["bare_sql"] = await sql_phase(endpoint.bare, args.requests, args.seconds)
            if plain := unredacted(endpoint.bare):
                row["bare_sql_unredacted"] = await sql_phase(plain, args.requests, args.seconds)
            if endpoint.old and not args.skip_old:
                row["old_system"] = await sql_phase(
                    endpoint.old, args.old_requests, args.old_seconds
                )
            results[endpoint.name] = row
            print(f"{endpoint.name}: {json.dumps(row)}", flush=True)
            for client in http_clients:
                client.close()
            http_clients.clear()
    finally:
        for client in http_clients:
            client.close()
        for conn in db_connections:
            await conn.close()
    return results


def _cell(row: dict[str, Any], key: str) -> str:
    found = row.get(key)
    return f"{found['p50_ms']:>9.2f}{found['p99_ms']:>9.2f}" if found else f"{'-':>9}{'-':>9}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="synthetic predictions")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers (API_WORKERS)")
    parser.add_argument("--requests", type=int, default=4000, help="per endpoint")
    parser.add_argument("--seconds", type=float, default=60, help="time limit per endpoint")
    parser.add_argument("--old-requests", type=int, default=160, help="per old query set")
    parser.add_argument("--old-seconds", type=float, default=60, help="time limit per old set")
    parser.add_argument("--skip-old", action="store_true", help="no old-system baselines")
    parser.add_argument("--only", nargs="*", help="endpoints whose name contains one of these")
    parser.add_argument(
        "--cache-seconds",
        type=float,
        default=DEFAULT_CACHE_SECONDS,
        help="API_CACHE_SECONDS (api/cache.py); 0 measures every request's own queries",
    )
    parser.add_argument(
        "--keep", action="store_true", help=f"keep {BENCH_DATABASE} for the next run"
    )
    args = parser.parse_args(argv)

    load_before = os.getloadavg()[0]
    with scratch_database(BENCH_DATABASE, keep=args.keep, reuse=True) as url:
        prepare(url, args.rows)
        # The bench tables belong to the bench database's owner, so the API connects as that
        # user; its sessions are read-only all the same (api/database.py).
        env = {"API_WORKERS": str(args.workers), "API_CACHE_SECONDS": str(args.cache_seconds)}
        api = start_api(url, {**env, "LOGML_SCHEMA": "ml"})  # the synthetic tables' schema
        try:
            port = int(api.base.rsplit(":", 1)[1])
            results = asyncio.run(measure(url, port, api.process.pid, args))
        finally:
            api.stop()

    worst_p99 = max(row["api"]["p99_ms"] for row in results.values())
    report = {
        "rows": args.rows,
        "synthetic": True,
        "clients": args.clients,
        "workers": args.workers,
        "cache_seconds": args.cache_seconds,
        # Other work on the machine shows in the tails: the 1-minute load around the run.
        "load_average_1min": {"before": load_before, "after": os.getloadavg()[0]},
        "results": results,
        "targets": {"p99_le_20ms_every_endpoint": worst_p99 <= 20, "worst_p99_ms": worst_p99},
    }
    suffix = "" if args.cache_seconds == DEFAULT_CACHE_SECONDS else f"_cache{args.cache_seconds:g}s"
    if args.only:  # a partial run keeps the full run's file
        suffix += "_only-" + "-".join(sorted(args.only))
    out = PROJECT_ROOT / "bench" / "results" / f"api_latency{suffix}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    head = (
        f"{'API p50':>9}{'p99':>9}{'cpu/req':>9}{'bare p50':>9}{'p99':>9}{'unred p50':>10}"
        f"{'p99':>9}{'old p50':>10}{'p99':>10}"
    )
    print(f"\n{'':24}{head}")
    for name, row in results.items():
        cpu = f"{row['api']['api_cpu_ms_per_request']:>9.2f}"
        old = row.get("old_system")
        old_cells = (
            f"{old['p50_ms']:>10.1f}{old['p99_ms']:>10.1f}" if old else f"{'-':>10}{'-':>10}"
        )
        plain = " " + _cell(row, "bare_sql_unredacted")
        print(f"{name:24}{_cell(row, 'api')}{cpu}{_cell(row, 'bare_sql')}{plain}{old_cells}")
    print(f"targets: {report['targets']}  (written to {out.relative_to(PROJECT_ROOT)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
