"""`python -m dbt_project COMMAND`: the database and dbt, one command per job (the Makefile
calls these)."""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
from pathlib import Path

from dbt_project import database, dbt_runner, project_evaluator, run_often, summary, use_table
from dbt_project.errors import exit_on_error
from dbt_project.settings import PROJECT_ROOT


@exit_on_error
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dbt_project", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("db-start", help="start (or reuse) the embedded PostgreSQL, print its URL")
    commands.add_parser("db-stop", help="stop the embedded PostgreSQL")
    commands.add_parser("db-url", help="print the URL every command uses")
    summary_command = commands.add_parser("summary", help="print what is in the database")
    use = commands.add_parser(
        "use-table",
        help="check your log table or view and record it in dbt_project.yml (make use-table)",
    )
    use.add_argument("--schema", default="public")
    use.add_argument("--table", required=True)
    use.add_argument(
        "--map", default="", help="logml's column=your column, comma-separated: id=event_id,..."
    )
    use.add_argument(
        "--levels", default="", help="your level name=level, comma-separated: LOUD=ERROR,..."
    )
    check_source = commands.add_parser(
        "check-source", help="print what logml finds in the recorded log source (make check-source)"
    )
    for command in (summary_command, use, check_source):
        command.add_argument("--project-dir", type=Path, default=PROJECT_ROOT)
    often = commands.add_parser(
        "run-often",
        help="score new logs, count, incidents, alerts: the selector run_often, no tests"
        " (make run-often); nothing to do without new logs",
    )
    once_or_every = often.add_mutually_exclusive_group()
    once_or_every.add_argument(
        "--force", action="store_true", help="run dbt even if nothing is new"
    )
    once_or_every.add_argument(
        "--every",
        type=float,
        metavar="SECONDS",
        help="stay up and run every SECONDS in this one process (dbt imported and the project"
        " parsed once, not on every run as cron's processes do); stop with Ctrl-C or SIGTERM",
    )
    often.add_argument(
        "--notify",
        action="store_true",
        help="with --every: after each run, deliver new alerts (python -m alerts notify)",
    )
    often.add_argument("--project-dir", type=Path, default=PROJECT_ROOT)
    often.add_argument(
        "--vars", help="dbt vars, as dbt takes them; the same as the full build's keeps the"
        " project parsed (dbt's partial parsing)",
    )  # fmt: skip
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
            print("\n".join(summary.summary_lines(conn, args.project_dir)))
    elif args.command == "use-table":
        source = use_table.requested(
            args.project_dir, args.schema, args.table, args.map, args.levels
        )
        with database.job_connection() as conn:
            return use_table.use_table(conn, args.project_dir, source)
    elif args.command == "check-source":
        with database.job_connection() as conn:
            return use_table.check_source(conn, args.project_dir)
    elif args.command == "run-often":
        if args.notify and args.every is None:
            parser.error(
                "--notify goes with --every (cron: make run-often && python -m alerts notify)"
            )
        runner = dbt_runner.InProcessDbt(database.database_url(), args.project_dir, args.vars)
        if args.every is None:
            print(run_often.run_often(runner, args.force))
        else:
            notify = [sys.executable, "-m", "alerts", "notify"]
            after = (lambda: subprocess.run(notify, check=False)) if args.notify else None
            # SIGTERM (systemd, docker stop) stops it as Ctrl-C does: the run in progress
            # rolls back, and the process exits cleanly
            signal.signal(signal.SIGTERM, signal.default_int_handler)
            try:
                run_often.run_every(runner, args.every, after=after)
            except KeyboardInterrupt:
                print("stopped")
    elif args.command == "dbt":
        return dbt_runner.run_dbt(args.dbt_args, check=False)
    elif args.command == "evaluate-project":
        return project_evaluator.evaluate(args.packages)
    return 0


if __name__ == "__main__":
    sys.exit(main())
