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
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import psycopg.conninfo

from dbt_project.database import database_url
from dbt_project.dbt_runner import copy_project, dbt_environment, write_profile
from dbt_project.source_table import create_source_table

ROOT = Path(__file__).resolve().parent.parent
BENCH_DATABASE = "logml_bench_load"
# What the dashboard and the old clients ask, in turn.
PATHS = (
    "/api/ml_lightweight?action=status",
    "/api/ml_lightweight?action=stats",
    "/api/ml_lightweight?action=analyze",
    "/api/v1/status",
    "/api/v1/stats?window=24h",
    "/api/v1/predictions?limit=50&severity=high&severity=medium",
    "/api/v1/stats/hourly?hours=48",
)


@dataclass
class LoadResult:
    requests: int = 0
    during_dbt: int = 0  # requests that started while dbt was running
    statuses: dict[str, int] = field(default_factory=dict)  # "299": 200 saying not_initialized
    server_errors: int = 0  # 5xx
    said_not_initialized: int = 0  # 200s that claim the pipeline never ran (status endpoints)
    connection_errors: int = 0  # no HTTP answer at all
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    load_seconds: float = 0.0  # how long the clients ran
    dbt_seconds: float = 0.0  # the whole measured dbt build
    dbt_exit_code: int | None = None
    examples: list[str] = field(default_factory=list)  # first bodies of failed requests


async def _get(
    port: int, path: str, conn: list[asyncio.StreamReader | asyncio.StreamWriter]
) -> tuple[int, bytes]:
    """One keep-alive HTTP/1.1 GET; (status, body). Reconnects when the connection is gone."""
    if not conn:
        conn.extend(await asyncio.open_connection("127.0.0.1", port))
    reader, writer = conn  # type: ignore[misc]
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())  # type: ignore[union-attr]
    head = await reader.readuntil(b"\r\n\r\n")  # type: ignore[union-attr]
    status = int(head.split(b" ", 2)[1])
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.lower().split(b"\r\n")
        if line.startswith(b"content-length:")
    )
    return status, await reader.readexactly(length)  # type: ignore[union-attr]


async def _hammer(
    port: int, clients: int, max_requests: int, seconds: float, busy: Callable[[], bool]
) -> tuple[list[tuple[float, int, bool]], list[str]]:
    """Closed-loop clients until dbt is done, `max_requests` were sent or `seconds` passed;
    (latency ms, status or 0, started while busy) per request."""
    samples: list[tuple[float, int, bool]] = []
    examples: list[str] = []
    sent = 0
    deadline = time.perf_counter() + seconds

    async def client(offset: int) -> None:
        nonlocal sent
        conn: list[asyncio.StreamReader | asyncio.StreamWriter] = []
        turn = offset
        while sent < max_requests and time.perf_counter() < deadline and busy():
            sent += 1
            path = PATHS[turn % len(PATHS)]
            turn += 1
            during = busy()
            started = time.perf_counter()
            try:
                status, body = await asyncio.wait_for(_get(port, path, conn), 30)
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
                status, body = 0, b""
                if conn:
                    conn[1].close()  # type: ignore[union-attr]
                    conn.clear()
            if status == 200 and b"not_initialized" in body:
                status = 299  # counted apart: a wrong answer, though not an HTTP error
            samples.append(((time.perf_counter() - started) * 1000, status, during))
            if status != 200 and len(examples) < 5:
                examples.append(f"{path}: {status} {body[:300]!r}")
        if conn:
            conn[1].close()  # type: ignore[union-attr]

    await asyncio.gather(*(client(i) for i in range(clients)))
    return samples, examples


def hammer_during(
    port: int,
    start_dbt: Callable[[], subprocess.Popen[Any]],
    clients: int = 8,
    max_requests: int = 5000,
    seconds: float = 120,
) -> LoadResult:
    """Start the dbt run, load the API on `port` until it ends (or the bounds are hit)."""
    started = time.perf_counter()
    dbt = start_dbt()
    samples, examples = asyncio.run(
        _hammer(port, clients, max_requests, seconds, lambda: dbt.poll() is None)
    )
    load_seconds = time.perf_counter() - started
    try:
        dbt.wait(timeout=600)
    finally:
        if dbt.poll() is None:
            dbt.kill()
    elapsed = time.perf_counter() - started
    latencies = [latency for latency, status, _ in samples if status]
    cuts = (
        statistics.quantiles(latencies, n=100, method="inclusive")
        if len(latencies) > 1
        else [0.0] * 99
    )
    statuses = Counter(str(status) for _, status, _ in samples)
    return LoadResult(
        requests=len(samples),
        during_dbt=sum(during for _, _, during in samples),
        statuses=dict(statuses),
        server_errors=sum(n for status, n in statuses.items() if status.startswith("5")),
        said_not_initialized=statuses.get("299", 0),
        connection_errors=statuses.get("0", 0),
        p50_ms=round(cuts[49], 2),
        p99_ms=round(cuts[98], 2),
        max_ms=round(max(latencies, default=0.0), 2),
        load_seconds=round(load_seconds, 2),
        dbt_seconds=round(elapsed, 2),
        dbt_exit_code=dbt.returncode,
        examples=examples,
    )


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
        copy_project(project, with_export=False)
        create_source_table(url)
        _cli(url, "dbt_project", "load", "generate", "--rows", str(args.rows), "--seed", "3")
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
        _cli(url, "dbt_project", "load", "generate", "--rows", str(args.batch), "--seed", "4")
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
