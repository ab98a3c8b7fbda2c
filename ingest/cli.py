"""`python -m ingest COMMAND`: create the source table, or bulk-load logs into it (one
transaction per command; see the package docstring for the bad-input policy)."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path

import psycopg

from dbt_project.database import job_connection
from dbt_project.errors import LoadError, exit_on_error
from dbt_project.source import configured
from ingest import loghub, source_table, textfiles
from ingest.generator import GeneratorSpec
from ingest.session import LoadReport, load_entries, load_generated


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ingest", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("create-source", help="create the log_entries source table if missing")

    generate = commands.add_parser("generate", help="load generated realistic application logs")
    generate.add_argument("--rows", type=int, required=True)
    generate.add_argument("--seed", type=int, default=42)
    generate.add_argument("--days", type=float, default=7.0, help="window length (default 7)")
    generate.add_argument(
        "--end", type=datetime.fromisoformat, help="window end, ISO 8601 (default: now, UTC)"
    )
    generate.add_argument(
        "--if-empty", action="store_true", help="do nothing when the source table has rows"
    )

    hub = commands.add_parser("loghub", help="load loghub *_structured.csv files or folders")
    hub.add_argument("paths", nargs="+", type=Path)
    hub.add_argument(
        "--system", choices=sorted(loghub.SYSTEMS), help="when the file names do not say it"
    )

    plain = commands.add_parser("file", help="load plain log files (a named format or a regex)")
    plain.add_argument("paths", nargs="+", type=Path)
    how = plain.add_mutually_exclusive_group(required=True)
    how.add_argument("--format", choices=sorted(textfiles.FORMATS) + textfiles.LOGHUB_RAW)
    how.add_argument("--regex", help="named groups: timestamp, level, message (+ optional)")
    plain.add_argument("--service", help="service of every line (default: none)")
    plain.add_argument("--year", type=int, help="year for formats without one")

    jsonl = commands.add_parser("jsonl", help="load JSON lines: timestamp, level, message, ...")
    jsonl.add_argument("paths", nargs="+", type=Path)
    return parser


@exit_on_error
def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    with job_connection() as conn:
        if args.command == "create-source":
            created = source_table.create_source_table(conn)
            name = configured().name
            print(f"source table {name} created" if created else f"{name} exists: nothing created")
            return 0
        try:
            report = _load(conn, args)
        except (LoadError, ValueError, OSError) as error:
            print(f"load failed, nothing loaded: {error}", file=sys.stderr)
            return 2
    print("\n".join(report.lines()))
    return 0


def _load(conn: psycopg.Connection, args: argparse.Namespace) -> LoadReport:
    if args.command == "generate":
        if args.rows < 1:
            raise ValueError("--rows must be positive")
        spec = GeneratorSpec(rows=args.rows, seed=args.seed, days=args.days, end=args.end)
        return load_generated(conn, spec, if_empty=args.if_empty)
    paths = _existing(args.paths)
    command = " ".join(["ingest", args.command, *map(str, args.paths)])
    if args.command == "loghub":
        csvs = [csv for path in paths for csv in loghub.find_csvs(path)]
        if not csvs:
            raise ValueError(f"no *_structured.csv in {', '.join(map(str, paths))}")
        return load_entries(conn, [loghub.LoghubCsv(path, args.system) for path in csvs], command)
    if args.command == "jsonl":
        return load_entries(conn, [textfiles.json_lines(path) for path in paths], command)
    parser = textfiles.line_parser(args.format, args.regex, year=args.year)
    sources = [textfiles.TextLog(path, parser, service=args.service) for path in paths]
    return load_entries(conn, sources, command)


def _existing(paths: list[Path]) -> list[Path]:
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise LoadError(f"no such file: {', '.join(missing)}")
    return paths
