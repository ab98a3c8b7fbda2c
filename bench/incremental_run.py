"""Incremental scoring: a full dbt run over N generated logs, then M more logs appended and an
incremental run. Reports the scoring step's time for both (dbt's run_results.json
execution_time of ml_predictions), their ratio (target: incremental <= 5% of full) and how
many rows the incremental run scored (must be exactly M).

    .venv/bin/python -m bench.incremental_run --rows 1000000 --append 10000

Runs in a database of its own (`logml_bench_incremental`, recreated, on DATABASE_URL's server
or the embedded one) and a temporary copy of the dbt project, so the repository's export and
target/ are untouched. The models are trained on at most --train-rows of the oldest logs (the
benchmark is about scoring, not training). Results: bench/results/incremental_run.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from dbt_project.database import PROJECT_ROOT
from dbt_project.scratch import scratch_database
from dev.pipeline import (
    END,
    create_source,
    dbt,
    export,
    load_generated,
    project_copy,
    scoring_step,
)

BENCH_DATABASE = "logml_bench_incremental"
RESULTS = PROJECT_ROOT / "bench" / "results" / "incremental_run.json"


def _timed(step: Callable[[], object]) -> float:
    started = time.perf_counter()
    step()
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--append", type=int, default=10_000)
    parser.add_argument("--train-rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args(argv)

    with (
        scratch_database(BENCH_DATABASE, keep=args.keep) as url,
        tempfile.TemporaryDirectory(prefix="logml-bench-") as tmp,
    ):
        project = project_copy(Path(tmp))
        create_source(url)
        load_seconds = _timed(lambda: load_generated(url, args.rows, args.seed, end=END))
        export_seconds = _timed(lambda: export(url, project, "--limit", str(args.train_rows)))
        dbt(project, url, "seed")
        dbt(project, url, "run", "-s", "+ml_predictions", artifacts=True)
        full_seconds, full_rows = scoring_step(project)

        load_generated(url, args.append, args.seed + 1, end=END)
        dbt(project, url, "run", "-s", "ml_predictions", artifacts=True)
        incremental_seconds, incremental_rows = scoring_step(project)

    ratio = incremental_seconds / full_seconds
    result = {
        "rows": args.rows,
        "appended": args.append,
        "load_seconds": round(load_seconds, 2),
        "export_seconds": round(export_seconds, 2),
        "full_scoring_seconds": round(full_seconds, 3),
        "full_rows_scored": full_rows,
        "incremental_scoring_seconds": round(incremental_seconds, 3),
        "incremental_rows_scored": incremental_rows,
        "ratio": round(ratio, 4),
        "ratio_target": 0.05,
        "exactly_appended_scored": incremental_rows == args.append,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print("| step | rows scored | ml_predictions time (s) |")
    print("|---|---:|---:|")
    print(f"| full run over {args.rows:,} logs | {full_rows:,} | {full_seconds:.2f} |")
    print(
        f"| incremental run after {args.append:,} more | {incremental_rows:,} | "
        f"{incremental_seconds:.2f} |"
    )
    verdict = "meets" if ratio <= 0.05 else "misses"
    print(f"\nincremental / full = {ratio:.2%} ({verdict} the 5% target); results in {RESULTS}")
    ok = incremental_rows == args.append and full_rows == args.rows
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
