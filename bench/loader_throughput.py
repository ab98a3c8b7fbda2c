"""Loader throughput: `load generate` (generate + COPY, one transaction) beside a plain COPY
of the same rows, in the same run, on the same server.

    .venv/bin/python -m bench.loader_throughput --rows 1000000

Both write into an empty `log_entries` (as create-source makes it: primary key, unique
log_id, timestamp index) in a database of their own (`logml_bench_loader`, on DATABASE_URL's
server or the embedded one; dropped at the end). The plain COPY reads a file holding exactly
the rows the loader generated (written beforehand, not timed) and sends it with
`COPY log_entries (...) FROM STDIN` through psycopg, the usual client-side bulk load. Each
measurement includes the commit; the table is truncated and a CHECKPOINT taken between runs.
Prints a markdown table; writes bench/results/loader_throughput.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from psycopg import sql

from dbt_project.database import connect, job_connection
from dbt_project.scratch import scratch_database
from dev.db import scalar
from ingest.generator import GENERATED_COLUMNS, GeneratorSpec, generate_copy_chunks
from ingest.session import load_generated
from ingest.source_table import create_source_table

RESULTS = Path(__file__).resolve().parent / "results"
BENCH_DATABASE = "logml_bench_loader"
TARGET_RATIO = 0.5


def _reset(url: str) -> None:
    with connect(url) as conn:
        conn.execute("truncate log_entries restart identity")
        conn.execute("checkpoint")


def _time_loader(url: str, spec: GeneratorSpec) -> float:
    """The command's work: its connection (with the migrations check) and the load."""
    _reset(url)
    start = time.perf_counter()
    with job_connection(url) as conn:
        load_generated(conn, spec)
    return time.perf_counter() - start


def _time_plain_copy(url: str, path: Path) -> float:
    _reset(url)
    statement = sql.SQL("copy log_entries ({}) from stdin").format(
        sql.SQL(", ").join(map(sql.Identifier, GENERATED_COLUMNS))
    )
    start = time.perf_counter()
    with (
        connect(url) as conn,
        conn.transaction(),
        conn.cursor() as cur,
        path.open("rb") as data,
        cur.copy(statement) as copy,
    ):
        while block := data.read(1 << 20):
            copy.write(block)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each; the median counts")
    args = parser.parse_args(argv)

    # A fixed window end, so the file holds exactly the rows the loader generates.
    spec = GeneratorSpec(rows=args.rows, seed=args.seed, end=datetime(2026, 1, 1, tzinfo=UTC))
    with scratch_database(BENCH_DATABASE) as url, tempfile.TemporaryDirectory() as tmp:
        with job_connection(url) as conn:
            create_source_table(conn)
        path = Path(tmp) / "rows.copy"
        with path.open("w", encoding="utf-8") as out:
            for _, text in generate_copy_chunks(spec):
                out.write(text)
        loader, plain = [], []
        for _ in range(args.repeat):
            loader.append(_time_loader(url, spec))
            assert scalar(url, "select count(*) from log_entries") == args.rows
            plain.append(_time_plain_copy(url, path))
            assert scalar(url, "select count(*) from log_entries") == args.rows
        file_bytes = path.stat().st_size

    loader_s, plain_s = statistics.median(loader), statistics.median(plain)
    ratio = plain_s / loader_s  # = loader rows/s divided by plain COPY rows/s
    result = {
        "benchmark": "loader_throughput",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "rows": args.rows,
        "copy_text_bytes": file_bytes,
        "repeat": args.repeat,
        "loader_seconds": loader,
        "plain_copy_seconds": plain,
        "loader_rows_per_s": args.rows / loader_s,
        "plain_copy_rows_per_s": args.rows / plain_s,
        "ratio": ratio,
        "target_ratio": TARGET_RATIO,
        "meets_target": ratio >= TARGET_RATIO,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
    }
    size = f"{args.rows:,} rows, {file_bytes / 1e6:.0f} MB as COPY text"
    print(f"| method ({size}) | seconds | rows/s |")
    print("|---|---:|---:|")
    print(f"| `load generate` (generate + COPY) | {loader_s:.2f} | {args.rows / loader_s:,.0f} |")
    print(
        f"| plain `COPY FROM STDIN` of the same rows | {plain_s:.2f} | {args.rows / plain_s:,.0f} |"
    )
    verdict = "meets" if ratio >= TARGET_RATIO else "MISSES"
    print(f"\nloader / plain COPY = {ratio:.2f} ({verdict} the {TARGET_RATIO}x target)")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "loader_throughput.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0 if ratio >= TARGET_RATIO else 1


if __name__ == "__main__":
    raise SystemExit(main())
