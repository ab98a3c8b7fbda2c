"""Command line: export (the default pair, or with --file a bring-your-own model), verify,
evaluate, check, compile-sql, label (template labels for the next export), and the model
lifecycle: versions, activate, rollback, promote, challenger (role changes only: nothing
retrains; --name picks a bring-your-own model's versions).

Each command imports what it runs: training, compiling and verifying load scikit-learn (seconds),
a role change or `versions` does not."""

from __future__ import annotations

import argparse
import re
import sys
from datetime import datetime
from pathlib import Path

import psycopg

from dbt_project.database import PROJECT_ROOT, database_url, job_connection, output_name
from dbt_project.errors import InputError, RegistryError, exit_on_error
from dbt_project.source import configured
from model_export.compiler.names import MACRO_DIR
from model_export.lifecycle import registry, versions

_MACRO_NAME = re.compile(r"[a-z_][a-z0-9_]*")


def _macro_name(name: str) -> str:
    """A --name that can name a dbt macro and its seeds: lowercase letters, digits, underscores."""
    if not _MACRO_NAME.fullmatch(name):
        suggestion = re.sub(r"[^a-z0-9_]", "_", name.lower())
        suggestion = suggestion if _MACRO_NAME.fullmatch(suggestion) else f"m_{suggestion}"
        raise argparse.ArgumentTypeError(
            f"{name!r} cannot name a SQL macro: use lowercase letters, digits and underscores,"
            f" starting with a letter (e.g. {suggestion})"
        )
    return name


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m model_export", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("--url", help="database URL (default: DATABASE_URL or embedded)")
        sub.add_argument("--project-dir", type=Path, default=PROJECT_ROOT)
        sub.add_argument("--artifacts-dir", type=Path, default=PROJECT_ROOT / "artifacts")
        return sub

    ex = command(
        "export",
        "train on stg_log_entries, compile to SQL, register a version; with --file and --name:"
        " compile, verify and register a Pipeline you trained as a version of model NAME",
    )
    ex.add_argument("--file", type=Path, help="a fitted Pipeline saved with joblib.dump")
    ex.add_argument("--name", help="the model the --file Pipeline is a version of (NAME_vN)")
    ex.add_argument("--window-start", type=datetime.fromisoformat)
    ex.add_argument("--window-end", type=datetime.fromisoformat)
    ex.add_argument("--limit", type=int, help="at most this many (oldest) rows")
    ex.add_argument("--seed", type=int, default=42)
    ex.add_argument(
        "--challenger",
        action="store_true",
        help="register the new version as the challenger (shadow scoring), not as active",
    )
    ex.add_argument(
        "--if-no-active",
        action="store_true",
        help="do nothing when the registry has an active version; register a compiled version"
        " whose model card says it was trained on exactly these logs (make pipeline)",
    )

    ve = command("verify", "score rows with the SQL and with the Pipelines; compare")
    ve.add_argument("--rows", type=int, default=10000, help="rows to score (0: all)")
    ve.add_argument(
        "--from-predictions",
        action="store_true",
        help="compare the rows dbt wrote to ml_predictions for the version",
    )
    ve.add_argument(
        "--version", help="model version to verify, vN or NAME_vN (default: the active vN)"
    )

    ev = command("evaluate", "held-out quality table over loghub systems and generated logs")
    ev.add_argument("--loghub-dir", type=Path, required=True)
    ev.add_argument("--generated-rows", type=int, default=20000)
    ev.add_argument("--seed", type=int, default=42)
    ev.add_argument("--output", type=Path, help="also write the markdown tables here")
    ev.add_argument("--report", type=Path, help="write the report page (HTML) here")
    ev.add_argument(
        "--page", type=Path, help="replace the generated tables of this markdown results page"
    )
    ev.add_argument("--systems", nargs="+", help="only these loghub systems (default: all)")
    ev.add_argument(
        "--replay-only",
        action="store_true",
        help="only the replay: generated logs and labelled loghub systems through export and"
        " dbt run by run (the targets' table; no results page or report)",
    )
    # defaults: the replay's own (GENERATED_ROWS, GENERATED_SEEDS in replay_evaluation.py)
    ev.add_argument("--replay-rows", type=int, help="lines per seed (default: 200,000)")
    ev.add_argument(
        "--replay-seeds", type=int, nargs="+", help="generator seeds (default: 42 7 2026)"
    )

    command("check", "regenerate the generated files from the artifacts; fail on any diff")

    demo = command("demo-model", "retrain the shipped demo model v1 on freshly generated demo logs")
    demo.add_argument("--rows", type=int, required=True)
    demo.add_argument("--seed", type=int, required=True)
    demo.add_argument("--end", type=datetime.fromisoformat, required=True)

    cs = command("compile-sql", "a fitted Pipeline (joblib) as one plain SQL script for psql")
    cs.add_argument("path", type=Path)
    cs.add_argument("--name", required=True, type=_macro_name, help="the view's name")
    cs.add_argument(
        "--batch", help="the relation to score, schema.table (default: stg_log_entries)"
    )
    cs.add_argument("--schema", default="ml_byo", type=_macro_name, help="for the view and seeds")
    cs.add_argument("--output", type=Path, help="the script's file (default: standard output)")

    la = command("label", "label the template of a logged line, for the next export")
    la.add_argument("--log-entry-id", type=int, required=True, help="a line of the template")
    kind = la.add_mutually_exclusive_group(required=True)
    kind.add_argument("--anomalous", action="store_true", help="its lines are anomalies")
    kind.add_argument("--normal", action="store_true", help="its lines are not anomalies")
    la.add_argument("--note", help="why (kept beside the label)")

    command("versions", "every registered version with its role and held-out metrics")
    command("activate", "make a registered version the active one").add_argument("version")
    models = "the default pair's versions, or with --name those of a bring-your-own model"
    rb = command("rollback", f"back to the version active before the current one ({models})")
    pr = command("promote", f"make the challenger the active version ({models})")
    ch = command("challenger", "set (or --clear) the challenger that scores in shadow")
    ch.add_argument("version", nargs="?")
    ch.add_argument("--clear", action="store_true")
    for sub in (rb, pr, ch):
        sub.add_argument("--name", help="a bring-your-own model (default: the default pair)")
    return parser


def _verify(args: argparse.Namespace, conn: psycopg.Connection) -> int:
    from model_export.lifecycle.verify import verify_predictions, verify_version
    from model_export.lifecycle.verify_pipeline import verify_byo_version

    rows = args.rows or None
    brought = args.version is not None and versions.byo_model(args.version) is not None
    if brought and args.from_predictions:
        raise InputError(
            f"{args.version} writes to the output table its own dbt model names, not to"
            f" {output_name('ml_predictions')}: verify it without --from-predictions"
        )
    if brought:
        results = verify_byo_version(conn, args.project_dir, rows, args.version)
    elif args.from_predictions:
        results = verify_predictions(conn, rows, args.version)
    else:
        results = verify_version(conn, args.project_dir, rows, args.version)
    for result in results:
        print(result.line())
    exact = all(r.exact for r in results)
    print("EXACT" if exact else "NOT EXACT: the compiled SQL differs from the Pipelines")
    return 0 if exact else 1


def _lifecycle(args: argparse.Namespace, conn: psycopg.Connection) -> int:
    """A role change; the compiled SQL of the version must be in the project to score."""
    compiled = versions.compiled(args.project_dir) + versions.compiled_byo(args.project_dir)
    version = getattr(args, "version", None)
    byo = getattr(args, "name", None)
    if byo is not None:
        versions.byo_name(byo)
    if args.command == "challenger" and args.clear == (version is not None):
        print("give a version, or --clear", file=sys.stderr)
        return 2
    if version is not None and version not in compiled:
        print(
            f"{version} has no compiled SQL in {args.project_dir / MACRO_DIR}"
            f" (compiled: {', '.join(compiled) or 'none'}): merge its generated files first",
            file=sys.stderr,
        )
        return 2
    source = configured(args.project_dir).identity
    change = {
        "activate": lambda: registry.activate(conn, args.version, source),
        "rollback": lambda: registry.rollback(conn, byo, source),
        "promote": lambda: registry.promote(conn, byo, source),
        "challenger": lambda: registry.set_challenger(conn, version, byo, source),
    }[args.command]
    try:
        print(change())
    except RegistryError as error:
        print(f"{args.command}: {error}", file=sys.stderr)
        return 1
    brought = byo is not None or (version is not None and versions.byo_model(version) is not None)
    print(
        "the next dbt run (make run) scores new logs into the model's table with them"
        if brought
        else "the API shows these roles now; the next dbt run (make run) scores new logs with them"
    )
    return 0


def _versions(conn: psycopg.Connection) -> int:
    for line in registry.describe(conn):
        print(line)
    return 0


def _compile_sql(args: argparse.Namespace) -> int:
    from model_export.compiler.pipeline import compile_pipeline
    from model_export.compiler.plain_sql import plain_sql
    from model_export.lifecycle.byo_versions import load_byo_pipeline

    pipeline, _ = load_byo_pipeline(args.path)
    try:
        compiled = compile_pipeline(pipeline, args.name)
    except InputError as error:
        raise InputError(f"cannot compile {args.path}: {error}") from None
    batch = args.batch or output_name("stg_log_entries")
    script = plain_sql(compiled, batch, args.schema, args.project_dir)
    if args.output is None:
        sys.stdout.write(script)
    else:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(script, encoding="utf-8")
        print(f"wrote {args.output}: psql -v ON_ERROR_STOP=1 -f {args.output}", file=sys.stderr)
    return 0


@exit_on_error
def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "check":
        from model_export.export import check

        problems = check(args.project_dir, args.artifacts_dir)
        for problem in problems:
            print(problem)
        print("generated files match their artifacts" if not problems else "check failed")
        return 1 if problems else 0
    if args.command == "compile-sql":
        return _compile_sql(args)
    if args.command == "demo-model":
        from model_export.demo_model import retrain_demo_model  # loads logs: imports the loader

        server = args.url or database_url()
        retrain_demo_model(
            server, args.project_dir, args.artifacts_dir, args.rows, args.seed, args.end
        )
        return 0
    with job_connection(args.url) as conn:
        return _database_command(args, conn)


def _database_command(args: argparse.Namespace, conn: psycopg.Connection) -> int:
    """The commands that work on the database, on the command's one connection."""
    if args.command == "evaluate":
        from model_export.evaluation.evaluate import evaluate
        from model_export.evaluation.replay_evaluation import GENERATED_ROWS, GENERATED_SEEDS
        from model_export.evaluation.report import check_page

        args.replay_rows = GENERATED_ROWS if args.replay_rows is None else args.replay_rows
        args.replay_seeds = args.replay_seeds or list(GENERATED_SEEDS)
        if args.replay_only and (args.report or args.page):
            message = "--replay-only writes no results page or report: drop --report/--page"
            print(message, file=sys.stderr)
            return 2
        if args.page is not None:
            check_page(args.page)  # before the long run: a page without its markers is refused
        return evaluate(conn, args)
    if args.command == "export":
        return _export(args, conn)
    if args.command in ("activate", "rollback", "promote", "challenger"):
        return _lifecycle(args, conn)
    if args.command == "versions":
        return _versions(conn)
    if args.command == "label":
        from model_export.training import labels

        label = labels.label_line(conn, args.log_entry_id, args.anomalous, args.note)
        print(labels.describe(label))
        return 0
    return _verify(args, conn)


def _export(args: argparse.Namespace, conn: psycopg.Connection) -> int:
    from model_export.export import export
    from model_export.lifecycle.byo_versions import export_byo
    from model_export.lifecycle.model_card import register_from_card, trained_on_these_logs
    from model_export.training.data import Window, ensure_staging

    if args.file or args.name:
        if not (args.file and args.name):
            raise InputError("give both --file (a saved Pipeline) and --name (its model's name)")
        folders = (args.project_dir, args.artifacts_dir)
        print(export_byo(conn, *folders, args.file, args.name, challenger=args.challenger))
        return 0
    source = configured(args.project_dir).identity
    if args.if_no_active:
        active = registry.roles(conn).active
        if active and registry.trained_on(conn, active) == source:
            print(f"{active} is active; not retraining (make export-model does)")
            return 0
        if active:
            print(f"{active} was trained on another log source; training one on {source}")
        ensure_staging(conn, args.project_dir)
        shipped = trained_on_these_logs(conn, args.project_dir, args.artifacts_dir)
        if shipped:
            register_from_card(conn, args.artifacts_dir, shipped, source)
            print(f"{shipped} registered as active: it was trained on exactly these logs")
            return 0
    window = Window(args.window_start, args.window_end, args.limit)
    folders = (args.project_dir, args.artifacts_dir)
    print(export(conn, *folders, window, args.seed, challenger=args.challenger))
    return 0
