"""`python -m dbt_project COMMAND`: the database and dbt, one command per job (the Makefile
calls these)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dbt_project import database, dbt_runner, project_evaluator, summary
from dbt_project.errors import exit_on_error


@exit_on_error
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dbt_project", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("db-start", help="start (or reuse) the embedded PostgreSQL, print its URL")
    commands.add_parser("db-stop", help="stop the embedded PostgreSQL")
    commands.add_parser("db-url", help="print the URL every command uses")
    commands.add_parser("summary", help="print what is in the database")
    dbt = commands.add_parser("dbt", help="run dbt with the generated profile: dbt ARGS...")
    dbt.add_argument("dbt_args", nargs=argparse.REMAINDER)
    evaluate = commands.add_parser(
        "evaluate-project",
        help="dbt-project-evaluator in a temporary copy and a scratch database; 1 on a warning",
    )
    evaluate.add_argument(
        "--packages",
        type=Path,
        required=True,
        help="folder with dbt_project_evaluator.tar.gz and dbt_utils.tar.gz",
    )

    args = parser.parse_args(argv)
    if args.command == "db-start":
        print(database.start_embedded())
    elif args.command == "db-stop":
        stopped = database.stop_embedded()
        print("embedded PostgreSQL stopped" if stopped else "embedded PostgreSQL was not running")
    elif args.command == "db-url":
        print(database.database_url())
    elif args.command == "summary":
        with database.job_connection() as conn:
            print("\n".join(summary.summary_lines(conn)))
    elif args.command == "dbt":
        return dbt_runner.run_dbt(args.dbt_args, check=False)
    elif args.command == "evaluate-project":
        return project_evaluator.evaluate(args.packages)
    return 0


if __name__ == "__main__":
    sys.exit(main())
