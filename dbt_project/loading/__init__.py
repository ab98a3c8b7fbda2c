"""`python -m dbt_project load ...`: bulk-load logs into the source table with COPY.

Sources: `generate` (built-in realistic application logs), `loghub` (loghub structured CSVs),
`file` (plain text with a named format or a regex) and `jsonl` (JSON lines).

Policy for bad input (tested exactly in tests/python/test_loading_bad_input.py):
- A partly bad file loads exactly its good rows. Every rejected line is recorded in
  `log_load_rejects` (load_id, source, line_number, reason, detail, excerpt, loaded_at) and
  counted per reason in the printed summary and in `log_loads.reject_counts`. Reasons:
  invalid_utf8, line_too_long (over 1 MB), broken_csv_row, unparsable_line, invalid_json,
  empty_message (empty, blank, NULL or missing), bad_timestamp, nul_character,
  value_too_long, bad_value, duplicate_log_id (earlier in the same load, or already in the
  table: re-loading a file skips its rows and counts them).
- An unknown level is not a reject: the row is loaded with level NULL (what staging calls
  unknown), the raw level is kept in structured_data.raw_level, and the rows are counted.
- A whole load (all files of one command) is one transaction: an error or an interrupt
  leaves nothing behind, not even reject records. A missing file, an unknown format or a
  missing source table stops the load before anything is read (exit code 2).
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path

from dbt_project.loading import loghub, textfiles
from dbt_project.loading.generator import GeneratorSpec
from dbt_project.loading.session import LoadError, LoadReport, load_entries, load_generated


def register_commands(commands) -> None:  # type: ignore[no-untyped-def]
    load = commands.add_parser("load", help="bulk-load logs (generate, loghub, file, jsonl)")
    sources = load.add_subparsers(dest="load_command", required=True)

    generate = sources.add_parser("generate", help="generate realistic application logs")
    generate.add_argument("--rows", type=int, required=True)
    generate.add_argument("--seed", type=int, default=42)
    generate.add_argument("--days", type=float, default=7.0, help="window length (default 7)")
    generate.add_argument(
        "--end", type=datetime.fromisoformat, help="window end, ISO 8601 (default: now, UTC)"
    )
    generate.add_argument(
        "--if-empty", action="store_true", help="do nothing when the source table has rows"
    )

    hub = sources.add_parser("loghub", help="loghub *_structured.csv files or system folders")
    hub.add_argument("paths", nargs="+", type=Path)
    hub.add_argument(
        "--system", choices=sorted(loghub.SYSTEMS), help="when the file names do not say it"
    )

    plain = sources.add_parser("file", help="plain log files with a named format or a regex")
    plain.add_argument("paths", nargs="+", type=Path)
    how = plain.add_mutually_exclusive_group(required=True)
    how.add_argument("--format", choices=sorted(textfiles.FORMATS) + textfiles.LOGHUB_RAW)
    how.add_argument("--regex", help="named groups: timestamp, level, message (+ optional)")
    plain.add_argument("--service", help="service of every line (default: none)")
    plain.add_argument("--year", type=int, help="year for formats without one")

    jsonl = sources.add_parser("jsonl", help="JSON lines: timestamp, level, message, ...")
    jsonl.add_argument("paths", nargs="+", type=Path)


def run_command(args: argparse.Namespace) -> int:
    if args.command != "load":
        raise SystemExit(f"unknown command {args.command}")
    try:
        report = _run(args)
    except (LoadError, ValueError, OSError) as error:
        print(f"load failed, nothing loaded: {error}", file=sys.stderr)
        return 2
    print("\n".join(report.lines()))
    return 0


def _run(args: argparse.Namespace) -> LoadReport:
    if args.load_command == "generate":
        if args.rows < 1:
            raise ValueError("--rows must be positive")
        spec = GeneratorSpec(rows=args.rows, seed=args.seed, days=args.days, end=args.end)
        return load_generated(spec, if_empty=args.if_empty)
    paths = _existing(args.paths)
    command = " ".join(["load", args.load_command, *map(str, args.paths)])
    if args.load_command == "loghub":
        csvs = [csv for path in paths for csv in loghub.find_csvs(path)]
        if not csvs:
            raise ValueError(f"no *_structured.csv in {', '.join(map(str, paths))}")
        return load_entries([loghub.LoghubCsv(path, args.system) for path in csvs], command)
    if args.load_command == "jsonl":
        return load_entries([textfiles.json_lines(path) for path in paths], command)
    parser = textfiles.line_parser(args.format, args.regex, year=args.year)
    sources = [textfiles.TextLog(path, parser, service=args.service) for path in paths]
    return load_entries(sources, command)


def _existing(paths: list[Path]) -> list[Path]:
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise LoadError(f"no such file: {', '.join(missing)}")
    return paths
