"""Writing compiled models into a dbt project: each model's macro and seeds (CSV, text cells
written by ir.seed_text so that dbt reads every one back exactly, + a properties yml with the
column types), under macros/generated/ and seeds/generated/ or in folders the caller names (a
model version's own: model_export.lifecycle.versions). Output is a pure function of the
compiled models: no timestamps, floats printed with repr(), rows in a fixed order. The SQL is
the interpreter's; this module only wraps it in a macro."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from model_export.compiler.interpreters.postgresql import column_type
from model_export.compiler.ir import DType, Seed, seed_text
from model_export.compiler.names import HEADER, MACRO_DIR, SEED_DIR
from model_export.compiler.pipeline import Compiled


def _cell(value: object, dtype: DType) -> str:
    if dtype is DType.TEXT:
        return seed_text(str(value))
    return repr(value) if isinstance(value, float) else str(value)


def seed_csv(seed: Seed) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([name for name, _ in seed.columns])
    dtypes = [dtype for _, dtype in seed.columns]
    writer.writerows([_cell(v, t) for v, t in zip(row, dtypes, strict=True)] for row in seed.rows)
    return out.getvalue()


def seed_properties(seed: Seed) -> str:
    """Column types, and an index on the first column: the key the compiled SQL looks rows up
    by (an equality lookup per distinct key, also inside Citus's per-shard tasks); the seed's
    meta, if any."""
    types = "".join(f"\n        {name}: {column_type(dtype)}" for name, dtype in seed.columns)
    meta = "".join(f"\n        {key}: {value}" for key, value in seed.meta)
    meta = f"\n      meta:{meta}" if meta else ""
    return f"""# {HEADER}
version: 2

seeds:
  - name: {seed.name}
    description: "Lookup table of a compiled model ({HEADER})."
    config:{meta}
      column_types:{types}
      indexes:
        - columns: [{seed.columns[0][0]}]
"""


def macro_file(name: str, body: str) -> str:
    # `history`: the detector's state tables (macros/log_features.sql, log_features_history)
    return (
        f"{{#- {HEADER} -#}}\n{{% macro {name}(batch, history=none) %}}\n{body}\n{{% endmacro %}}\n"
    )


def rendered_files(
    compiled: list[Compiled], macro_dir: Path = MACRO_DIR, seed_dir: Path = SEED_DIR
) -> dict[Path, str]:
    """Relative path -> content of the macro and seed files of these compiled models, in
    `macro_dir` and `seed_dir` (relative to the project)."""
    files: dict[Path, str] = {}
    for model in compiled:
        files[macro_dir / f"{model.name}.sql"] = macro_file(model.name, model.body)
        for seed in model.seeds:
            files[seed_dir / f"{seed.name}.csv"] = seed_csv(seed)
            files[seed_dir / f"{seed.name}.yml"] = seed_properties(seed)
    return files


def write_files(project_dir: Path, files: dict[Path, str]) -> None:
    for relative, content in files.items():
        path = project_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")


def generated_paths(project_dir: Path) -> set[Path]:
    """Every file currently under the generated folders (relative to project_dir)."""
    found: set[Path] = set()
    for folder in (MACRO_DIR, SEED_DIR):
        root = project_dir / folder
        if root.is_dir():
            found |= {p.relative_to(project_dir) for p in root.rglob("*") if p.is_file()}
    return found
