"""Bring-your-own models as versions beside the default pair. `export --file FILE --name NAME`
(make export-model FILE=... NAME=...) takes a fitted scikit-learn Pipeline saved with joblib
and makes it version NAME_vN: compiled (compiler/byo.py), verified against the Pipeline on
rows of stg_log_entries before anything is written (every output within 1e-9, labels equal),
its files written into the project (versions.py says where) and registered, active or as the
challenger of its model. From then on it has what the default pair's versions have: verify,
check-generated (byo_version_files from its saved Pipeline), activate / challenger / promote /
rollback among the versions of its model, and an output table through the dbt model pattern
of docs/bring-your-own-model.md.

Every version of a model returns the same columns (one output table holds them all, the
active version's rows beside the challenger's), so a version whose outputs differ from its
model's registered ones is refused: it is another model, with a name of its own.
"""

from __future__ import annotations

import shutil
import tempfile
import warnings
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import sklearn
from sklearn.exceptions import InconsistentVersionWarning
from sklearn.pipeline import Pipeline

from dbt_project.database import output_name
from dbt_project.errors import InputError, NotReadyError
from dbt_project.source import configured
from model_export.compiler import byo, ir
from model_export.compiler.pipeline import Compiled, compile_program, model_steps
from model_export.compiler.project_files import rendered_files, write_files
from model_export.compiler.render import copy_used_macros
from model_export.lifecycle import versions
from model_export.lifecycle.artifacts import load_pipeline
from model_export.lifecycle.registry import Entry, byo_outputs, register, registered_versions
from model_export.lifecycle.verify import Comparison
from model_export.lifecycle.verify_pipeline import verify_on_stg
from model_export.progress import progress
from model_export.training.data import ensure_staging
from model_export.training.features import STG_COLUMNS

# stg rows a new version is verified on before it is registered (`make verify` does more)
VERIFY_ROWS = 10_000


def load_byo_pipeline(path: Path) -> tuple[Pipeline, str]:
    """(the fitted Pipeline saved at `path`, the scikit-learn version that saved it: the one
    its pickle names when it differs from this one)."""
    if not path.is_file():
        raise InputError(f"no such file: {path} (a fitted Pipeline saved with joblib.dump)")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", InconsistentVersionWarning)
        pipeline = load_pipeline(path)
    if not isinstance(pipeline, Pipeline):
        raise InputError(
            f"{path} holds a {type(pipeline).__name__}, not a scikit-learn Pipeline: wrap the"
            " model in sklearn.pipeline.make_pipeline(...) with its preprocessing, fit, save"
        )
    saved_by = [w.message for w in caught if isinstance(w.message, InconsistentVersionWarning)]
    return pipeline, saved_by[0].original_sklearn_version if saved_by else sklearn.__version__


def compile_version(pipeline: Pipeline, version: str) -> tuple[Compiled, ir.Program]:
    """The version's macro ml_byo_NAME_vN(batch) and seeds (UnsupportedStep names a step the
    compiler refuses), and the program they were written from."""
    macro = versions.byo_macro(version)
    program = byo.byo_program(model_steps(pipeline), macro)
    return compile_program(macro, program), program


def version_files(compiled: Compiled, version: str) -> dict[Path, str]:
    return rendered_files([compiled], versions.macro_folder(version), versions.seed_folder(version))


def byo_version_files(artifacts_dir: Path, version: str) -> dict[Path, str]:
    """The generated files of a bring-your-own version, regenerated from its saved Pipeline."""
    pipeline, _ = load_byo_pipeline(versions.byo_pipeline(artifacts_dir, version))
    return version_files(compile_version(pipeline, version)[0], version)


def _reads_stg(program: ir.Program) -> tuple[str, ...]:
    source = program.source
    columns = source.columns if isinstance(source, ir.Batch) else ()
    missing = [c for c in columns if c not in STG_COLUMNS]
    if missing:
        raise InputError(
            f"the Pipeline reads {missing}, which {output_name('stg_log_entries')} does not"
            f" have: fit it on a DataFrame of that view's columns ({', '.join(STG_COLUMNS)}),"
            " or on the message strings for a text model"
        )
    return columns


def _verified(results: list[Comparison]) -> dict[str, object]:
    agreements = [r.agreement for r in results if r.agreement is not None]
    diffs = [r.max_abs_diff for r in results if r.max_abs_diff is not None]
    return {
        "rows": results[0].rows if results else 0,
        "exact": bool(results) and all(r.exact for r in results),
        "label_agreement": min(agreements) if agreements else None,
        "max_abs_diff": max(diffs) if diffs else None,
    }


def export_byo(
    conn: psycopg.Connection,
    project_dir: Path,
    artifacts_dir: Path,
    path: Path,
    name: str,
    challenger: bool = False,
    rows: int = VERIFY_ROWS,
) -> str:
    """Compile, verify, write and register the Pipeline at `path` as the next version of the
    model `name`; returns the version."""
    name = versions.byo_name(name)
    pipeline, saved_by = load_byo_pipeline(path)
    ensure_staging(conn, project_dir)
    # the project and the artifacts may hold versions of another database's registry: skipped
    taken = [*versions.compiled_byo(project_dir), *versions.saved_byo(artifacts_dir)]
    version = versions.next_byo_version(name, registered_versions(conn, name), taken)
    try:
        compiled, program = compile_version(pipeline, version)
    except InputError as error:
        raise InputError(f"cannot compile {path}: {error}") from None
    reads = _reads_stg(program)
    outputs = [n for n in program.output_names() if n != byo.KEY]
    earlier = byo_outputs(conn, name)
    if earlier is not None and earlier != outputs:
        raise InputError(
            f"{path} returns {outputs}, the registered versions of {name} return {earlier}: the"
            f" versions of a model share its output table; give this one a name of its own"
        )
    files = version_files(compiled, version)
    progress(f"verifying {version} on up to {rows} rows of {output_name('stg_log_entries')}")
    # the very files the project gets, verified in a folder of their own before it gets them
    with tempfile.TemporaryDirectory() as scratch:
        copy_used_macros(project_dir, Path(scratch))
        write_files(Path(scratch), files)
        results = verify_on_stg(conn, Path(scratch), compiled.name, pipeline, rows)
    verified = _verified(results)
    if not verified["rows"]:
        raise NotReadyError(f"no rows in {output_name('stg_log_entries')} to verify on: load logs")
    if not verified["exact"]:
        lines = "\n".join(r.line() for r in results)
        raise InputError(f"{version} is not exact on stg_log_entries, not registered:\n{lines}")
    target = versions.byo_pipeline(artifacts_dir, version).resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, target)
    write_files(project_dir, files)
    write_files(project_dir, versions.listing(project_dir))
    model = pipeline.steps[-1][1]
    metrics: dict[str, object] = {
        "steps": [type(step).__name__ for _, step in model_steps(pipeline)],
        "reads": list(reads),
        "outputs": outputs,
        "classes": [str(c) for c in getattr(model, "classes_", [])],
        "source_file": str(path),
        "verified": verified,
    }
    entry = Entry(
        model_name=name,
        trained_at=datetime.fromtimestamp(path.stat().st_mtime, UTC),  # when it was saved
        training_rows=None,
        window_start=None,
        window_end=None,
        sklearn_version=saved_by,
        metrics=metrics,
        artifact_path=str(target),
    )
    # it scores the configured source, like the default pair's versions trained on it
    register(conn, version, [entry], configured(project_dir).identity, challenger=challenger)
    role = "the challenger" if challenger else "active"
    progress(
        f"{version} registered as {role} of {name}: macro {compiled.name}(batch), reads"
        f" {', '.join(reads)}; returns {', '.join(outputs)}; verified exact on"
        f" {verified['rows']} rows"
    )
    return version
