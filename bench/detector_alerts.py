"""How many alerts a day the default anomaly detector would send (docs/results/benchmarks.md).

    .venv/bin/python -m bench.detector_alerts --loghub-dir ../shared/data/loghub

In a database of its own (`logml_bench_alerts`, dropped at the end): every loghub system is
loaded as `make load-loghub` loads it, and separately the demo logs as `make pipeline` loads
them (--rows, --seed, --end) with their is_anomaly labels ignored (most users have none).

- loghub, one database holding every system: each system's oldest 80% (by time) is
  training data, pooled into one level classifier and one detector (threshold from those
  lines alone); each system's newest 20% is then scored run by run, every 6 hours of log
  time as the shipped schedule runs dbt (the training history plus the earlier runs).
- demo logs: the export's own split (oldest 80% train, newest 20% scored).

Per dataset: lines scored, the share flagged `is_anomaly`, the `new_anomalous_template`
alerts ml_alerts would raise (flagged lines that are the first of their template in their
service), and those alerts per day of the scored part. Prints a markdown table; writes
bench/results/detector_alerts.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from dbt_project.database import PROJECT_ROOT, connect
from dbt_project.scratch import scratch_database
from model_export.evaluation.replay import load_logs
from model_export.training import pipelines
from model_export.training.anomaly_detectors import (
    severity_rarity,
    training_history,
    with_history_in_runs,
)
from model_export.training.data import ensure_staging, read_stg, time_split
from model_export.training.templates import templates_of

RESULTS = PROJECT_ROOT / "bench" / "results" / "detector_alerts.md"
BENCH_DATABASE = "logml_bench_alerts"


def scored_rows(train: pd.DataFrame, parts: dict[str, pd.DataFrame]) -> list[dict[str, object]]:
    """Fit on `train`, score each part after it run by run (its training history plus the
    part's earlier runs); one row per part."""
    levelled = train[train["level"].notna()]
    level = pipelines.level_classifier(seed=42).fit(levelled, levelled["level"].to_numpy())
    detector = severity_rarity(level).fit(train)
    rows = []
    for name, part in parts.items():
        counted = with_history_in_runs(
            part, training_history(detector), templates=templates_of(detector)
        )
        out = pipelines.anomaly_outputs(detector, counted)
        alerts = int(pipelines.new_template_alerts(out.is_anomaly, counted).sum())
        span = part["logged_at"].max() - part["logged_at"].min()
        days = max(span.total_seconds() / 86400.0, 1.0 / 24.0)
        rows.append(
            {
                "dataset": name,
                "lines": len(part),
                "days": days,
                "flagged": int(out.is_anomaly.sum()),
                "alerts": alerts,
                "threshold": detector[-1].threshold_,
            }
        )
    return rows


def markdown(rows: list[dict[str, object]]) -> str:
    lines = [
        "| dataset | scored lines (newest 20%) | days | is_anomaly (share) | alerts (share)"
        " | alerts per day |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines_ = float(r["lines"])  # type: ignore[arg-type]
        flagged, alerts = int(r["flagged"]), int(r["alerts"])  # type: ignore[call-overload]
        days = float(r["days"])  # type: ignore[arg-type]
        lines.append(
            f"| {r['dataset']} | {int(lines_):,} | {days:.2f} |"
            f" {flagged} ({100 * flagged / lines_:.2f}%) | {alerts} ({100 * alerts / lines_:.2f}%)"
            f" | {alerts / days:.1f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loghub-dir", type=Path, default=PROJECT_ROOT / "../shared/data/loghub")
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--end", default="2026-11-26T00:00:00+00:00")
    args = parser.parse_args()
    rows: list[dict[str, object]] = []
    with scratch_database(BENCH_DATABASE) as url:
        systems = sorted(p for p in args.loghub_dir.iterdir() if p.is_dir())
        load_logs(url, "loghub", *[str(p) for p in systems])
        with connect(url) as conn:
            ensure_staging(conn, PROJECT_ROOT)
            frame = pipelines.without_labels(read_stg(conn))
        splits = {s.name: time_split(frame[frame["service"] == s.name]) for s in systems}
        train = pd.concat([t for t, _ in splits.values()]).sort_values(
            ["logged_at", "log_entry_id"]
        )
        rows += scored_rows(train, {name: held_out for name, (_, held_out) in splits.items()})
    with scratch_database(BENCH_DATABASE) as url:
        load_logs(
            url, "generate", "--rows", str(args.rows), "--seed", str(args.seed), "--end", args.end
        )
        with connect(url) as conn:
            ensure_staging(conn, PROJECT_ROOT)
            train, held_out = time_split(pipelines.without_labels(read_stg(conn)))
        rows += scored_rows(train, {f"demo logs ({args.rows:,}, seed {args.seed})": held_out})
    table = markdown(rows)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(table, encoding="utf-8")
    print(table)


if __name__ == "__main__":
    main()
