"""Grouping accuracy of the log templates on the loghub samples (docs/internals/templates.md):

    .venv/bin/python -m bench.template_grouping --loghub-dir ../shared/data/loghub

No database: each structured CSV is read by the project's loader (ingest.loghub, the lines
and timestamps `make load-loghub` loads) in (time, line) order. Per system, GA of the learned
templates (fitted on the earliest half) on the later half and on all lines, beside
tokenizer.log_template and Drain3 0.9.11 with default settings, online over every line
(`pip install drain3==0.9.11` first: it is not a dependency of logml; without it its column
reads "-"). The same table is part of `make evaluate`. Prints markdown; writes
bench/results/template_grouping.md.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from ingest.entries import Entry
from ingest.loghub import LoghubCsv, find_csvs
from model_export.evaluation.grouping import grouping_table, loghub_groupings

RESULTS = Path(__file__).parent / "results" / "template_grouping.md"


def read_system(csv_path: Path) -> pd.DataFrame:
    """The loaded rows of one structured CSV: log_id, logged_at, log_entry_id (line order)."""
    rows = [
        {
            "log_id": e.log_id,
            "logged_at": e.timestamp,
            "log_entry_id": n,
            "message": e.message or "",
        }
        for n, e, _ in LoghubCsv(csv_path)
        if isinstance(e, Entry)
    ]
    return pd.DataFrame(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loghub-dir", type=Path, default=Path("../shared/data/loghub"))
    args = parser.parse_args()
    started = time.monotonic()
    systems = {
        folder.name: read_system(find_csvs(folder)[0])
        for folder in sorted(p for p in args.loghub_dir.iterdir() if p.is_dir())
        if find_csvs(folder)
    }
    table = grouping_table(loghub_groupings(systems, args.loghub_dir))
    lines = [f"**{table.title}**", "", "| " + " | ".join(table.headers) + " |"]
    lines += ["|" + "---|" * len(table.headers), *("| " + " | ".join(r) + " |" for r in table.rows)]
    text = "\n".join(lines) + f"\n\n({time.monotonic() - started:.1f} s)\n"
    print(text)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
