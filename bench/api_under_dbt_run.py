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
stg_log_entries has exactly one prediction of the active version. tests/python/test_load.py
runs `hammer_during` at small size and asserts zero 5xx and a p99 bound.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict
from pathlib import Path

import psycopg
import psycopg.conninfo

from dbt_project.database import database_url
from dbt_project.dbt_runner import dbt_environment, write_profile
from ingest.source_table import create_source_table
from tests.python.harness.load import hammer_during
from tests.python.harness.pipeline import project_copy

ROOT = Path(__file__).resolve().parent.parent
BENCH_DATABASE = "logml_bench_load"


def dbt_process(project: Path, url: str, *args: str) -> subprocess.Popen[bytes]:
    write_profile()
    dbt = shutil.which("dbt", path=os.path.dirname(sys.executable)) or "dbt"
    return subprocess.Popen(
        [dbt, *args],
        cwd=project,
        env=dbt_environment(url),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )


def _cli(url: str, *args: str) -> None:
    env = {**os.environ, "DATABASE_URL": url}
    subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL
    )


def _with(url: str, **changes: str) -> str:
    params = psycopg.conninfo.conninfo_to_dict(url)
    if "user" in changes:  # the owner's password is never the reader's
        params.pop("password", None)
    return psycopg.conninfo.make_conninfo("", **(params | changes))


def _start_api(reader_url: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "API_DATABASE_URL": reader_url,
        "API_HOST": "127.0.0.1",
        "API_PORT": str(port),
        "API_WORKERS": str(workers),
    }
    api = subprocess.Popen(
        [sys.executable, "-m", "api"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/status", timeout=2):
                return api
        except OSError:
            time.sleep(0.3)
    api.terminate()
    raise RuntimeError("the API did not start")


COUNTS = """
select (select count(*) from ml.stg_log_entries),
       count(*), count(distinct log_entry_id)
from ml.ml_predictions
where model_version = (select model_version from ml.ml_model_registry where is_active limit 1)
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20_000, help="logs before the measured run")
    parser.add_argument("--batch", type=int, default=20_000, help="logs the measured run scores")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers (API_WORKERS)")
    parser.add_argument("--requests", type=int, default=20_000, help="at most this many")
    parser.add_argument("--seconds", type=float, default=120, help="at most this long")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/api_under_dbt_run.json")
    args = parser.parse_args(argv)

    server_url = database_url()
    url = _with(server_url, dbname=BENCH_DATABASE)
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f"drop database if exists {BENCH_DATABASE} with (force)")
        conn.execute(f"create database {BENCH_DATABASE}")
    project = Path(tempfile.mkdtemp(prefix="logml-bench-load-"))
    api = None
    try:
        project_copy(project)
        create_source_table(url)
        _cli(url, "ingest", "generate", "--rows", str(args.rows), "--seed", "3")
        _cli(
            url,
            "model_export",
            "export",
            "--url",
            url,
            "--project-dir",
            str(project),
            "--artifacts-dir",
            str(project / "artifacts"),
        )
        assert dbt_process(project, url, "build").wait() == 0, "the first dbt build failed"
        _cli(url, "ingest", "generate", "--rows", str(args.batch), "--seed", "4")
        port = _free_port()
        api = _start_api(_with(url, user="logml_api"), port, args.workers)
        result = hammer_during(
            port,
            lambda: dbt_process(project, url, "build"),
            args.clients,
            args.requests,
            args.seconds,
        )
        with psycopg.connect(url) as conn:
            stg, predictions, distinct = conn.execute(COUNTS).fetchone()  # type: ignore[misc]
    finally:
        if api is not None:
            api.terminate()
            api.wait(timeout=30)
        shutil.rmtree(project, ignore_errors=True)
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f"drop database if exists {BENCH_DATABASE} with (force)")
    report = {
        "rows_before": args.rows,
        "batch_scored_during_load": args.batch,
        "clients": args.clients,
        "workers": args.workers,
        "load_average_1min": os.getloadavg()[0],
        **asdict(result),
        "after": {"stg_logs": stg, "predictions": predictions, "distinct_logs": distinct},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    ok = (
        result.server_errors == result.said_not_initialized == 0
        and result.connection_errors == 0
        and stg == predictions == distinct
    )
    return 0 if ok and result.dbt_exit_code == 0 else 1


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


if __name__ == "__main__":
    sys.exit(main())
