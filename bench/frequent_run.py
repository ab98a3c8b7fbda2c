"""The frequent run against the full build: a database of --rows generated logs, built once; then
rounds in which --append new lines arrive before each of `make run-often` (python -m dbt_project
run-often), the full `dbt build` (python -m dbt_project dbt build, as the 6-hour schedule runs
it) and one run of the resident `run-often --every` (run_often on a dbt_runner.InProcessDbt made
before the rounds: dbt imported, the project parsed), the three taking turns to go first. Each
is timed as a user waits for it: a process from its start to its exit, the resident run from
the moment it starts to its end (the process is already up), wall clock.
Reports the medians, their ratio (target: the frequent run <= 3 s), where the frequent run's
time goes (the process against dbt's own run, its slowest models) and a run with nothing new.

    .venv/bin/python -m bench.frequent_run --rows 1000000 --append 1000 --repeat 3

In a database of its own (`logml_bench_frequent`, dropped at the end) and a temporary copy of
the dbt project; the models are trained on at most --train-rows of the oldest logs. Results:
bench/results/frequent_run.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from dbt_project.database import PROJECT_ROOT
from dbt_project.dbt_runner import InProcessDbt
from dbt_project.run_often import run_often
from dbt_project.scratch import scratch_database
from dev.db import scalar
from dev.pipeline import END, create_source, dbt, export, load_generated, project_copy

BENCH_DATABASE = "logml_bench_frequent"
RESULTS = PROJECT_ROOT / "bench" / "results" / "frequent_run.md"
TARGET_SECONDS = 3.0
FREQUENT = ("dbt_project", "run-often")
FULL = ("dbt_project", "dbt", "build")


def _timed(url: str, project: Path, command: tuple[str, ...]) -> tuple[float, str]:
    """(wall seconds, last output line) of `python -m <command>` against the project copy."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", *command, "--project-dir", str(project)],
        cwd=PROJECT_ROOT,
        env={**os.environ, "DATABASE_URL": url},
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{command} failed:\n{output[-4000:]}"
    return seconds, output.strip().splitlines()[-1]


def _all_scored(url: str) -> bool:
    """Every line of the source scored by the active version (the newest id is)."""
    return bool(
        scalar(
            url,
            "select (select max(id) from public.log_entries) = (select max(log_entry_id)"
            " from ml.ml_predictions where model_version = 'v1')",
        )
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--append", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--train-rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)

    times: dict[str, list[float]] = {"frequent": [], "full": [], "resident": []}
    lines: list[str] = []
    with (
        scratch_database(BENCH_DATABASE) as url,
        tempfile.TemporaryDirectory(prefix="logml-bench-") as tmp,
    ):
        project = project_copy(Path(tmp))
        create_source(url)
        load_generated(url, args.rows, args.seed, end=END)
        export(url, project, "--limit", str(args.train_rows))
        started = time.perf_counter()
        dbt(project, url, "build")
        first_build = time.perf_counter() - started
        resident = InProcessDbt(url, project)
        run_often(resident)  # up and parsed, as `run-often --every` is after its first run
        # each batch: the 5 minutes after the previous one, as a 5-minute schedule sees them
        newest = datetime.fromisoformat(END)
        batch = 0
        for round_ in range(args.repeat):
            ways = list(times)[round_ % 3 :] + list(times)[: round_ % 3]
            for way in ways:
                batch += 1
                newest += timedelta(minutes=5)
                load_generated(url, args.append, args.seed + batch, newest.isoformat(), 5 / 1440)
                load = os.getloadavg()[0]
                if way == "resident":
                    started = time.perf_counter()
                    last = run_often(resident)
                    seconds = time.perf_counter() - started
                else:
                    seconds, last = _timed(url, project, FREQUENT if way == "frequent" else FULL)
                last = last if way != "full" else "-"  # the build's is dbt's own summary
                assert _all_scored(url), f"{way} run left new lines unscored"
                times[way].append(seconds)
                lines.append(f"| {batch} | {way} | {seconds:.2f} | {load:.1f} | {last} |")
                print(lines[-1], flush=True)
        _timed(url, project, FREQUENT)  # catches up with the last full build's lines
        idle, idle_line = _timed(url, project, FREQUENT)

    frequent, full = statistics.median(times["frequent"]), statistics.median(times["full"])
    resident_median = statistics.median(times["resident"])
    verdict = "met" if frequent <= TARGET_SECONDS else "not met"
    resident_verdict = "met" if resident_median <= TARGET_SECONDS else "not met"
    report = f"""# Frequent run against the full build

`python -m bench.frequent_run --rows {args.rows} --append {args.append} --repeat {args.repeat}`:
{args.rows:,} generated logs built once (the first `dbt build`: {first_build:.1f} s), then
{args.append:,} new lines before each run; wall clock of the process, as a user runs it.

| run (command) | runs | median (s) | all (s) |
|---|---:|---:|---:|
| frequent: `make run-often` | {len(times["frequent"])} | {frequent:.2f} | {", ".join(f"{t:.2f}" for t in times["frequent"])} |
| full: `make run` (`dbt build`) | {len(times["full"])} | {full:.2f} | {", ".join(f"{t:.2f}" for t in times["full"])} |
| resident: a run of `make run-often-every` | {len(times["resident"])} | {resident_median:.2f} | {", ".join(f"{t:.2f}" for t in times["resident"])} |

Ratio frequent / full: {frequent / full:.2f} ({full / frequent:.1f}x faster); resident / full:
{resident_median / full:.2f}; resident / frequent: {resident_median / frequent:.2f}. Target: the frequent run <=
{TARGET_SECONDS:.0f} s: {verdict} for the process, {resident_verdict} for the resident run. A frequent
run with nothing new (the second of two in a row): {idle:.2f} s ({idle_line}).

| batch | run | wall (s) | load average before | the frequent run's summary |
|---|---|---:|---:|---|
{chr(10).join(lines)}
"""  # noqa: E501
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(report, encoding="utf-8")
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
