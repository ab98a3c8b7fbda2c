"""`python -m dbt_project COMMAND`: the database and dbt, one command per job (the Makefile
calls these)."""

from __future__ import annotations

import argparse
import sys

from dbt_project import database, dbt_runner, summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dbt_project", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("db-start", help="start (or reuse) the embedded PostgreSQL, print its URL")
    commands.add_parser("db-stop", help="stop the embedded PostgreSQL")
    commands.add_parser("db-url", help="print the URL every command uses")
    commands.add_parser("summary", help="print what is in the database")
    dbt = commands.add_parser("dbt", help="run dbt with the generated profile: dbt ARGS...")
    dbt.add_argument("dbt_args", nargs=argparse.REMAINDER)

    args = parser.parse_args(argv)
    if args.command == "db-start":
        print(database.start_embedded())
    elif args.command == "db-stop":
        stopped = database.stop_embedded()
        print("embedded PostgreSQL stopped" if stopped else "embedded PostgreSQL was not running")
    elif args.command == "db-url":
        print(database.database_url())
    elif args.command == "summary":
        print("\n".join(summary.summary_lines()))
    elif args.command == "dbt":
        return dbt_runner.run_dbt(args.dbt_args, check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
