"""Command line: export, verify, evaluate, check, compile-pipeline."""

from __future__ import annotations

import argparse
import shutil
import sys
from datetime import datetime
from pathlib import Path

import joblib

from dbt_project.database import PROJECT_ROOT, database_url
from model_export.compiler import compile_pipeline
from model_export.data import Window
from model_export.export import BYO_DIR, check, export
from model_export.generate import rendered_files, write_files
from model_export.text_sql import UnsupportedStep


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m model_export", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("--url", help="database URL (default: DATABASE_URL or embedded)")
        sub.add_argument("--project-dir", type=Path, default=PROJECT_ROOT)
        sub.add_argument("--artifacts-dir", type=Path, default=PROJECT_ROOT / "artifacts")
        return sub

    ex = command("export", "train on ml.stg_log_entries, compile to SQL, register a version")
    ex.add_argument("--window-start", type=datetime.fromisoformat)
    ex.add_argument("--window-end", type=datetime.fromisoformat)
    ex.add_argument("--limit", type=int, help="at most this many (oldest) rows")
    ex.add_argument("--seed", type=int, default=42)
    ex.add_argument(
        "--if-no-active",
        action="store_true",
        help="do nothing when the registry already has an active version (make pipeline)",
    )

    ve = command("verify", "score rows with the SQL and with the Pipelines; compare")
    ve.add_argument("--rows", type=int, default=10000, help="rows to score (0: all)")
    ve.add_argument(
        "--from-predictions",
        action="store_true",
        help="compare the rows dbt wrote to ml.ml_predictions for the active version",
    )

    ev = command("evaluate", "held-out quality table over loghub systems and generated logs")
    ev.add_argument("--loghub-dir", type=Path, required=True)
    ev.add_argument("--generated-rows", type=int, default=20000)
    ev.add_argument("--seed", type=int, default=42)
    ev.add_argument("--output", type=Path, help="also write the markdown table here")

    command("check", "regenerate the generated files from the artifacts; fail on any diff")

    cp = command("compile-pipeline", "compile a user-supplied fitted Pipeline (joblib)")
    cp.add_argument("path", type=Path)
    cp.add_argument("--name", required=True, help="macro name (ml_ is prefixed if missing)")
    return parser


def _verify(args: argparse.Namespace, url: str) -> int:
    from model_export.verify import verify_active, verify_predictions

    rows = args.rows or None
    results = (
        verify_predictions(url, rows)
        if args.from_predictions
        else verify_active(url, args.project_dir, rows)
    )
    for result in results:
        print(result.line())
    exact = all(r.exact for r in results)
    print("EXACT" if exact else "NOT EXACT: the compiled SQL differs from the Pipelines")
    return 0 if exact else 1


def _active_version(url: str) -> str | None:
    from model_export.registry import active_artifacts, ensure_registry

    ensure_registry(url)
    try:
        return active_artifacts(url)[0]
    except SystemExit:
        return None


def _compile_pipeline(args: argparse.Namespace) -> int:
    name = args.name if args.name.startswith("ml_") else f"ml_{args.name}"
    pipeline = joblib.load(args.path)
    try:
        compiled = compile_pipeline(pipeline, name)
    except UnsupportedStep as error:
        print(f"cannot compile {args.path}: {error}", file=sys.stderr)
        return 2
    target = args.artifacts_dir / BYO_DIR / f"{name}.joblib"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(args.path, target)
    write_files(args.project_dir, rendered_files([compiled], None))
    print(f"wrote macro {name}(batch) and its seeds into {args.project_dir}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "check":
        problems = check(args.project_dir, args.artifacts_dir)
        for problem in problems:
            print(problem)
        print("generated files match their artifacts" if not problems else "check failed")
        return 1 if problems else 0
    if args.command == "compile-pipeline":
        return _compile_pipeline(args)
    url = args.url or database_url()
    if args.command == "export":
        if args.if_no_active and _active_version(url):
            print(f"{_active_version(url)} is active; not retraining (make export-model does)")
            return 0
        window = Window(args.window_start, args.window_end, args.limit)
        print(export(url, args.project_dir, args.artifacts_dir, window, args.seed))
        return 0
    if args.command == "verify":
        return _verify(args, url)
    from model_export.evaluate import evaluate

    return evaluate(url, args)
