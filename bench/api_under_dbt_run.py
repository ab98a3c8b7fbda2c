"""The API under load while `dbt build` writes: concurrent clients on loopback read the API
(status, stats, analyze, predictions, hourly) during a dbt build that scores a new batch and
rebuilds the stats and status tables; p50/p99/max latency, status counts and errors.

    .venv/bin/python -m bench.api_under_dbt_run --rows 20000 --batch 20000

The data are REAL pipeline output: a database of its own (`logml_bench_load`, on DATABASE_URL's
server or the embedded one, dropped afterwards) gets `--rows` generated logs, an exported model
and a `dbt build`; then `--batch` more logs, and the measured phase runs while the second
`dbt build` scores them. The API runs as `python -m api` (API_WORKERS, default 1) as the
read-only role logml_api. Bounded: at most --requests requests and --seconds seconds; the
clients stop when dbt ends. Afterwards the counts prove nothing was lost: every log in
stg_log_entries has exactly one prediction of the active version. tests/python/e2e/test_load.py
runs the same load (dev/api_load.py) at small size: zero 5xx and a p99 bound.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

from dbt_project.database import PROJECT_ROOT
from dbt_project.scratch import scratch_database
from dev.api_load import hammer_during
from dev.api_server import start_api
from dev.db import as_reader
from dev.pipeline import build, coverage, load_generated, project_copy, start_dbt

BENCH_DATABASE = "logml_bench_load"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20_000, help="logs before the measured run")
    parser.add_argument("--batch", type=int, default=20_000, help="logs the measured run scores")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers (API_WORKERS)")
    parser.add_argument("--requests", type=int, default=20_000, help="at most this many")
    parser.add_argument("--seconds", type=float, default=120, help="at most this long")
    parser.add_argument(
        "--out", type=Path, default=PROJECT_ROOT / "bench/results/api_under_dbt_run.json"
    )
    args = parser.parse_args(argv)

    with scratch_database(BENCH_DATABASE) as url, tempfile.TemporaryDirectory() as scratch:
        project = project_copy(Path(scratch))
        build(url, project, args.rows, seed=3)
        load_generated(url, args.batch, seed=4)
        api = start_api(as_reader(url), {"API_WORKERS": str(args.workers)})
        try:
            result = hammer_during(
                int(api.base.rsplit(":", 1)[1]),
                lambda: start_dbt(project, url, "build"),
                args.clients,
                args.requests,
                args.seconds,
            )
        finally:
            api.stop()
        after = coverage(url)
    report = {
        "rows_before": args.rows,
        "batch_scored_during_load": args.batch,
        "clients": args.clients,
        "workers": args.workers,
        "load_average_1min": os.getloadavg()[0],
        **asdict(result),
        "after": asdict(after),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    ok = (
        result.server_errors == result.said_not_initialized == 0
        and result.connection_errors == 0
        and after.exact
    )
    return 0 if ok and result.dbt_exit_code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
