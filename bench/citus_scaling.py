"""One node against a Citus cluster: the same dbt scoring over the same logs, same run, same
machine.

    .venv/bin/python -m bench.citus_scaling --rows 1000000

- Single node: a database of its own (`logml_bench_citus_single`) on DATABASE_URL's server or
  the embedded one.
- Cluster: a Citus cluster of its own (dev/citus/cluster.sh: a coordinator and two workers on
  this machine, ports 9750-9752, data in a temporary folder, removed afterwards; Citus is built
  first if needed), or --citus-url for one that runs (e.g. `make citus-up`'s; its database must
  be empty).
Both get --rows generated logs from the same generator seed (the same ids and rows: the
predictions are compared), the models are trained once on the single node (at most
--train-rows of the oldest logs; training is not timed) and registered on both. Then, on each:
a full dbt run of ml_predictions, --append more logs and an incremental run; the time is dbt's
execution_time of ml_predictions (run_results.json). Afterwards the predictions of both must
be equal in every column but predicted_at, and the EXPLAIN of the cluster's incremental
statement (the one dbt ran) is summarised: tasks, and whether anything went through the
coordinator. Prints a markdown table; writes bench/results/citus_scaling.json.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path

from psycopg import sql

from dbt_project.database import PROJECT_ROOT, connect
from dbt_project.scratch import scratch_database
from dev.db import scalar
from dev.pipeline import (
    END,
    create_source,
    dbt,
    export,
    load_generated,
    project_copy,
    scoring_step,
)

RESULTS = PROJECT_ROOT / "bench" / "results" / "citus_scaling.json"
CLUSTER = PROJECT_ROOT / "dev" / "citus" / "cluster.sh"
BENCH_DATABASE = "logml_bench_citus_single"
CLUSTER_PORT = 9750
STATEMENT = Path("target/run/logml/models/marts/scoring/ml_predictions.sql")
PREDICTION_COLUMNS = (
    "log_entry_id, model_version, predicted_level, level_confidence, logged_level,"
    " level_disagrees, is_anomaly, anomaly_score, anomaly_confidence, severity, explanation,"
    " logged_at, service, host, source_type, log_id, message"
)


@contextmanager
def own_cluster() -> Iterator[str]:
    """A Citus cluster in a temporary folder (readable by the nodes' OS user); its URL."""
    import pgserver

    data = Path(tempfile.mkdtemp(prefix="logml-citus-bench-"))
    data.chmod(0o755)
    env = {
        **os.environ,
        "CITUS_PGBIN": str(Path(pgserver.__file__).parent / "pginstall" / "bin"),
        "CITUS_DATA": str(data / "cluster"),
        "CITUS_PORT": str(CLUSTER_PORT),
    }
    try:
        done = subprocess.run([CLUSTER, "up"], env=env, capture_output=True, text=True, check=True)
        yield done.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run([CLUSTER, "destroy"], env=env, capture_output=True, check=False)
        subprocess.run(["rm", "-rf", str(data)], check=False)


def _copy_registry(source: str, target: str) -> None:
    """The registry's rows (the target's table: the migrations made it with create_source)."""
    buffer = io.BytesIO()
    out = "copy ml.ml_model_registry to stdout"
    with connect(source) as conn, conn.cursor() as cur, cur.copy(out) as copy:
        for data in copy:
            buffer.write(data)
    with connect(target) as conn, conn.transaction(), conn.cursor() as cur:
        cur.execute("truncate ml.ml_model_registry")
        with cur.copy("copy ml.ml_model_registry from stdin") as copy:
            copy.write(buffer.getvalue())


def _predictions_md5(url: str) -> str:
    row = f"row({PREDICTION_COLUMNS})::text"
    statement = f"select md5(string_agg({row}, '|' order by log_entry_id, model_version))"
    return str(scalar(url, f"{statement} from ml.ml_predictions"))


def explain_shape(url: str, statement: str) -> dict[str, object]:
    """Tasks and coordinator steps of the EXPLAIN of the scoring statement (bound: the newest
    10,000 ids, the size of an incremental batch)."""
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute("begin")
        cur.execute("select max(id) - 10000 from public.log_entries")
        bound = str(cur.fetchone()[0])
        cur.execute("set local citus.propagate_set_commands = local")
        # SET takes no bound parameters: the value goes in as a quoted literal
        cur.execute(
            sql.SQL("set local logml.scoring_lower_id_active = {}").format(sql.Literal(bound))
        )
        cur.execute(f"explain (costs off) {statement}")
        plan = "\n".join(r[0] for r in cur.fetchall())
        cur.execute("rollback")
    method = re.search(r"INSERT/SELECT method: (.+)", plan)
    return {
        "task_counts": [int(n) for n in re.findall(r"Task Count: (\d+)", plan)],
        "insert_into_each_shard": "Insert on ml_predictions_" in plan,
        "insert_select_method": method.group(1).strip() if method else "pushed down",
        "distributed_subplans": plan.count("Distributed Subplan"),
        "first_lines": plan.splitlines()[:12],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--append", type=int, default=10_000)
    parser.add_argument("--train-rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--citus-url", help="a running Citus coordinator (empty database)")
    args = parser.parse_args(argv)

    cluster: AbstractContextManager[str] = (
        nullcontext(args.citus_url) if args.citus_url else own_cluster()
    )
    with (
        scratch_database(BENCH_DATABASE) as single,
        cluster as citus,
        tempfile.TemporaryDirectory(prefix="logml-bench-") as tmp,
    ):
        project = project_copy(Path(tmp))
        seconds: dict[str, dict[str, float]] = {"single node": {}, "citus, 2 workers": {}}
        for url in (single, citus):
            create_source(url)
            started = time.perf_counter()
            load_generated(url, args.rows, args.seed, end=END)
            seconds["single node" if url == single else "citus, 2 workers"]["load"] = (
                time.perf_counter() - started
            )
        export(single, project, "--limit", str(args.train_rows))
        _copy_registry(single, citus)
        rows_scored: dict[str, list[int]] = {}
        for name, url in (("single node", single), ("citus, 2 workers", citus)):
            dbt(project, url, "seed")
            dbt(project, url, "run", "-s", "+ml_predictions", artifacts=True)
            seconds[name]["full"], full_rows = scoring_step(project)
            load_generated(url, args.append, args.seed + 1, end=END)
            dbt(project, url, "run", "-s", "ml_predictions", artifacts=True)
            seconds[name]["incremental"], incremental_rows = scoring_step(project)
            rows_scored[name] = [full_rows, incremental_rows]
        shape = explain_shape(citus, (project / STATEMENT).read_text())
        equal = _predictions_md5(single) == _predictions_md5(citus)

    single_s, citus_s = seconds["single node"], seconds["citus, 2 workers"]
    result = {
        "rows": args.rows,
        "appended": args.append,
        "cores": os.cpu_count(),
        "seconds": {k: {s: round(v, 2) for s, v in d.items()} for k, d in seconds.items()},
        "rows_scored": rows_scored,
        "citus_over_single": {
            step: round(citus_s[step] / single_s[step], 3) for step in ("full", "incremental")
        },
        "predictions_equal_but_predicted_at": equal,
        "citus_incremental_explain": shape,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"| ml_predictions ({args.rows:,} logs) | single node (s) | Citus, 2 workers (s) | ratio |"
    )
    print("|---|---:|---:|---:|")
    for step, label in (("full", "full run"), ("incremental", f"+{args.append:,} logs")):
        ratio = citus_s[step] / single_s[step]
        print(f"| {label} | {single_s[step]:.2f} | {citus_s[step]:.2f} | {ratio:.2f} |")
    print(f"\npredictions equal (every column but predicted_at): {equal}")
    print(f"cluster EXPLAIN of the incremental statement: {json.dumps(shape, indent=1)}")
    print(f"results in {RESULTS}")
    expected = [args.rows, args.append]
    return 0 if equal and all(r == expected for r in rows_scored.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
