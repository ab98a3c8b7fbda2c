"""What one replayed run costs (model_export.evaluation.replay): generated logs replayed run by
run as the evaluation replays them, each run's dbt done one of three ways in turn:

- fast: the replay's FAST selection, dbt in this process (no tests, no report-only models);
- build, in process: `dbt build` in this process;
- build, a process: `dbt build` through `python -m dbt_project dbt`, as the schedule runs it.

All three give the same rows (tests/python/integration/test_replay.py), so taking turns does not
change what later runs see. Per way: runs, lines, mean seconds per run and per 1,000 lines.

    .venv/bin/python -m bench.replay_runs --rows 200000 --seed 42

In a database of its own (`logml_bench_replay`, dropped at the end) and a working copy of the
project. Results: bench/results/replay_runs.md.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import psycopg

from dbt_project.database import PROJECT_ROOT, connect
from dbt_project.dbt_runner import run_dbt
from dbt_project.scratch import scratch_database
from model_export.evaluation.replay import (
    FAST,
    Replay,
    load_logs,
    run_end,
    working_copy,
)

BENCH_DATABASE = "logml_bench_replay"
RESULTS = PROJECT_ROOT / "bench" / "results" / "replay_runs.md"
END = "2026-01-01T00:00:00+00:00"


def _measure(
    conn: psycopg.Connection, project: Path, seed: int
) -> dict[str, list[tuple[int, float]]]:
    """Per way, (lines, seconds) of each run it did: train, then the ways take turns."""
    replay = Replay(conn, project, FAST)
    replay.hide_labels()
    replay.hold_back(pd.Timestamp(END) - pd.Timedelta(days=3))
    replay.train(seed)
    ways: dict[str, Callable[[], object]] = {
        "fast, in process": lambda: [replay.dbt(*command) for command in FAST.run],
        "dbt build, in process": lambda: replay.dbt("build"),
        "dbt build, a process": lambda: run_dbt(["build"], replay.url, project_dir=project),
    }
    measured: dict[str, list[tuple[int, float]]] = {way: [] for way in ways}
    turn = 0
    while (arrival := replay.next_arrival()) is not None:
        way = list(ways)[turn % len(ways)]
        lines = replay.release(run_end(arrival))
        started = time.perf_counter()
        ways[way]()
        measured[way].append((lines, time.perf_counter() - started))
        print(f"{way}: {lines} lines, {measured[way][-1][1]:.1f} s", flush=True)
        turn += 1
    return measured


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--days", type=int, default=7, help="the last 3 are replayed")
    args = parser.parse_args(argv)
    with (
        scratch_database(BENCH_DATABASE) as url,
        tempfile.TemporaryDirectory(prefix="logml-bench-") as tmp,
    ):
        load_logs(url, "generate", "--rows", str(args.rows), "--seed", str(args.seed),
                  "--days", str(args.days), "--end", END)  # fmt: skip
        project = working_copy(Path(tmp) / "project")
        with connect(url) as conn:
            measured = _measure(conn, project, args.seed)
    rows = [
        "| dbt per run | runs | lines | seconds per run | seconds per 1,000 lines |",
        "|---|---:|---:|---:|---:|",
    ]
    for way, runs in measured.items():
        lines, seconds = sum(n for n, _ in runs), sum(s for _, s in runs)
        rows.append(
            f"| {way} | {len(runs)} | {lines:,} | {seconds / len(runs):.1f}"
            f" | {1000 * seconds / max(lines, 1):.2f} |"
        )
    table = "\n".join(rows) + "\n"
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(table, encoding="utf-8")
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
