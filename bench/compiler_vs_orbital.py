"""model_export's compiler against posit-dev/orbital 0.6.0 on the same PostgreSQL and rows.

    .venv/bin/pip install --target .bench-deps orbital==0.6.0   # once; only for this bench
    .venv/bin/python -m bench.compiler_vs_orbital --rows 1000000

orbital is not a dependency of the project (not in requirements.lock): it is read from
.bench-deps/, appended to sys.path after the project's packages, so the project's own
scikit-learn and numpy stay the ones in use. Without it the bench says how to install it
and exits.

In a database of its own (`logml_bench_orbital`, dropped at the end): a table of --rows rows
of 8 numeric columns (a seeded generator), every pipeline fitted on the first --train-rows
rows, then for each pipeline and
each compiler: compile time, SQL size (the macro for model_export, its seeds apart), and
the time of `create table ... as <scoring SQL>` over every row (median of --repeat runs,
the two compilers alternating). Both results are compared with scikit-learn's on a sample
of --check-rows rows: label agreement and the largest |difference| of the probabilities or
predictions. A pipeline one side cannot compile or run is listed with its error. Writes
bench/results/compiler_vs_orbital.md (and prints it).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dbt_project.database import PROJECT_ROOT, connect, database_url
from dbt_project.scratch import create_database, drop_database
from model_export.compiler.pipeline import compile_pipeline
from model_export.compiler.render import render_macro
from model_export.lifecycle.verify_pipeline import install, load_frame, reference

BENCH_DEPS = PROJECT_ROOT / ".bench-deps"
RESULTS = PROJECT_ROOT / "bench" / "results" / "compiler_vs_orbital.md"
DATABASE = "logml_bench_orbital"
COLUMNS = [f"c{j}" for j in range(8)]
TABLE = "bench_rows"


def _orbital() -> Any:
    sys.path.append(str(BENCH_DEPS))
    try:
        import orbital  # type: ignore[import-not-found]
    except ImportError:
        sys.exit(
            "orbital is not installed for this bench. Install it (not a project dependency):\n"
            "  .venv/bin/pip install --target .bench-deps orbital==0.6.0"
        )
    return orbital


def rows(count: int, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(count, len(COLUMNS))) * 10.0, columns=COLUMNS)
    frame.insert(0, "log_entry_id", np.arange(1, count + 1))
    return frame


def labels(frame: pd.DataFrame) -> np.ndarray:
    score = frame["c0"] + 0.5 * frame["c1"] - frame["c2"] * frame["c3"] / 10.0
    # integer classes: orbital writes text labels as bytea literals PostgreSQL rejects
    # ("invalid hexadecimal digit"), see the results' notes
    return np.where(score > 5, 2, np.where(score < -5, 0, 1))


def target(frame: pd.DataFrame) -> np.ndarray:
    return (frame["c0"] * 2.0 + frame["c1"] ** 2 / 10.0 - frame["c4"]).to_numpy()


def pipelines() -> dict[str, tuple[Callable[[], Any], str]]:
    """name -> (an unfitted Pipeline, its target: multiclass, binary or regression)."""
    from sklearn.ensemble import (
        GradientBoostingClassifier,
        GradientBoostingRegressor,
        RandomForestClassifier,
    )
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler, StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    def scaled(model: Callable[[], object]) -> Callable[[], Any]:
        return lambda: make_pipeline(StandardScaler(), model())

    def boosting() -> object:
        return GradientBoostingClassifier(n_estimators=100, max_depth=3, random_state=0)

    return {
        "StandardScaler + LogisticRegression, 3 classes": (
            scaled(lambda: LogisticRegression(max_iter=500)), "multiclass"
        ),
        "SimpleImputer + MinMaxScaler + LinearRegression": (
            lambda: make_pipeline(SimpleImputer(), MinMaxScaler(), LinearRegression()), "regression"
        ),
        "StandardScaler + DecisionTree(depth 8), 3 classes": (
            scaled(lambda: DecisionTreeClassifier(max_depth=8, random_state=0)), "multiclass"
        ),
        "StandardScaler + GradientBoosting(100, depth 3), binary": (scaled(boosting), "binary"),
        "StandardScaler + GradientBoosting(100, depth 3), 3 classes": (
            scaled(boosting), "multiclass"
        ),
        "StandardScaler + GradientBoostingRegressor(100, depth 3)": (
            scaled(lambda: GradientBoostingRegressor(max_depth=3, random_state=0)), "regression"
        ),
        "StandardScaler + RandomForest(100, depth 8), binary": (
            scaled(lambda: RandomForestClassifier(n_estimators=100, max_depth=8, random_state=0)),
            "binary",
        ),
    }  # fmt: skip


def fit_target(frame: pd.DataFrame, kind: str) -> np.ndarray:
    if kind == "regression":
        return target(frame)
    classes = labels(frame)
    return (classes == 2).astype(int) if kind == "binary" else classes


def timed(url: str, query: str, repeat: int, timeout: int) -> float:
    times = []
    for _ in range(repeat):
        with connect(url) as conn, conn.cursor() as cur:
            cur.execute("set jit = off")
            cur.execute(f"set statement_timeout = '{timeout}s'")
            cur.execute("drop table if exists bench_scored")
            start = time.perf_counter()
            cur.execute(f"create table bench_scored as {query}")
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def fetch_checked(url: str, query: str, key: str, ids: list[int]) -> pd.DataFrame:
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            f"select * from ({query}) as scored where {key} = any(%s) order by {key}", (ids,)
        )
        names = [d.name for d in cur.description]
        return pd.DataFrame.from_records(cur.fetchall(), columns=names)


def exactness(got: pd.DataFrame, expected: dict[str, np.ndarray], columns: dict[str, str]) -> str:
    """'labels 1.000000, max |diff| 1.2e-15' over the columns both have (ours -> theirs)."""
    parts, worst = [], 0.0
    for ours, theirs in columns.items():
        if theirs not in got:
            continue
        values = got[theirs].to_numpy()
        if ours == "predicted_label":
            text = [
                bytes(v).decode() if isinstance(v, bytes | memoryview) else str(v) for v in values
            ]
            parts.append(f"labels {np.mean(np.asarray(text) == expected[ours]):.6f}")
        else:
            diff = np.abs(values.astype(np.float64) - expected[ours])
            worst = max(worst, float(np.nanmax(diff)) if not np.isnan(diff).all() else np.inf)
    parts.append(f"max diff {worst:.1e}")
    return ", ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--train-rows", type=int, default=20_000)
    parser.add_argument("--check-rows", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", help="run the pipelines whose name contains this")
    parser.add_argument("--skip", help="skip the pipelines whose name contains this")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per scoring statement")
    args = parser.parse_args()
    orbital = _orbital()
    from orbital import types  # type: ignore[import-not-found]

    server = database_url()
    url = create_database(server, DATABASE)
    conn = connect(url)
    frame = rows(args.rows)
    load_frame(conn, TABLE, frame)
    train = frame.iloc[: args.train_rows]
    check = frame.sample(min(args.check_rows, len(frame)), random_state=1).sort_values(
        "log_entry_id"
    )
    ids = check["log_entry_id"].tolist()
    features = {"log_entry_id": types.Int64ColumnType(passthrough=True)}
    features |= {c: types.DoubleColumnType() for c in COLUMNS}
    lines = []
    with tempfile.TemporaryDirectory() as folder:
        for name, (make, kind) in pipelines().items():
            if (args.only and args.only not in name) or (args.skip and args.skip in name):
                continue
            pipeline = make().fit(train[COLUMNS], fit_target(train, kind))
            expected = reference(pipeline, check[COLUMNS])
            ours = {"predicted_label": "predicted_label", "prediction": "prediction"}
            ours |= {k: k for k in expected if k.startswith("probability_")}
            classes = [str(c) for c in getattr(pipeline, "classes_", [])]
            theirs = {"predicted_label": "output_label", "prediction": "variable"}
            theirs |= {f"probability_{k}": f"output_probability.{c}" for k, c in enumerate(classes)}
            row: dict[str, Any] = {"pipeline": name}
            # model_export
            start = time.perf_counter()
            compiled = compile_pipeline(pipeline, "ml_bench")
            row["ours_compile"] = time.perf_counter() - start
            project = Path(folder) / "ours"
            install(conn, compiled, project)
            ours_sql = render_macro(project, "ml_bench", "ml_verify_byo", TABLE)
            row["ours_size"] = len(compiled.body.encode())
            # orbital
            try:
                start = time.perf_counter()
                parsed = orbital.parse_pipeline(pipeline, features=features)
                their_sql = orbital.export_sql(
                    TABLE,
                    parsed,
                    dialect="postgres",
                    projection=orbital.ResultsProjection(select=["log_entry_id"]),
                )
                row["their_compile"] = time.perf_counter() - start
                row["their_size"] = len(their_sql.encode())
            except Exception as error:  # noqa: BLE001 - reported as the bench's finding
                their_sql, row["their_error"] = None, f"compile: {str(error).splitlines()[0][:120]}"
            for _ in range(args.repeat):
                row.setdefault("ours_times", []).append(timed(url, ours_sql, 1, args.timeout))
                if their_sql and "their_error" not in row:
                    try:
                        seconds = timed(url, their_sql, 1, args.timeout)
                    except Exception as error:  # noqa: BLE001 - reported as the bench's finding
                        row["their_error"] = f"PostgreSQL: {str(error).splitlines()[0][:120]}"
                    else:
                        row.setdefault("their_times", []).append(seconds)
            got = fetch_checked(url, ours_sql, "log_entry_id", ids)
            row["ours_exact"] = exactness(got, expected, ours)
            if "their_times" in row and "their_error" not in row:
                got = fetch_checked(url, their_sql, '"log_entry_id"', ids)
                row["their_exact"] = exactness(got, expected, theirs)
            lines.append(row)
            print(_line(row), flush=True)
    conn.close()
    drop_database(server, DATABASE)
    report = _report(lines, args)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(report, encoding="utf-8")
    print(report)


def _line(row: dict) -> str:
    ours = statistics.median(row["ours_times"])
    done = "their_times" in row and "their_error" not in row
    theirs = statistics.median(row["their_times"]) if done else None
    ratio = f"{theirs / ours:.2f}x" if theirs else "-"
    their_text = (
        f"{theirs:.2f} s, {row['their_size'] / 1000:.0f} kB, compile {row['their_compile']:.2f} s,"
        f" {row['their_exact']}"
        if theirs
        else row.get("their_error", "-")
        + (f" ({row['their_size'] / 1000:.0f} kB of SQL)" if "their_size" in row else "")
    )
    return (
        f"| {row['pipeline']} | {ours:.2f} s, {row['ours_size'] / 1000:.0f} kB, compile"
        f" {row['ours_compile']:.2f} s, {row['ours_exact']} | {their_text} | {ratio} |"
    )


def _report(lines: list[dict], args: argparse.Namespace) -> str:
    load = os.getloadavg()
    return (
        "# model_export's compiler against orbital 0.6.0\n\n"
        f"`.venv/bin/python -m bench.compiler_vs_orbital --rows {args.rows} --repeat {args.repeat}`"
        f" (PostgreSQL {_server_version()}, {os.cpu_count()} cores shared, load average"
        f" {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} at the end). {args.rows:,} rows of 8"
        f" numeric columns, models fitted on the first {args.train_rows:,}; scoring ="
        " `create table ... as <SQL>` over every row, median of the runs (the two alternating);"
        f" exactness against scikit-learn on {min(args.check_rows, args.rows):,} rows (labels"
        " equal, largest |difference| of the probabilities or predictions). Ratio = orbital's"
        " time / model_export's.\n\n"
        "| pipeline | model_export: scoring, macro size, compile, exactness | orbital |"
        " orbital / model_export |\n|---|---|---|---|\n" + "\n".join(_line(r) for r in lines) + "\n"
    )


def _server_version() -> str:
    with connect(database_url()) as conn, conn.cursor() as cur:
        cur.execute("show server_version")
        return str(cur.fetchone()[0]).split()[0]


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        traceback.print_exc()
