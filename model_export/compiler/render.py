"""Rendering the project's macros outside dbt, so verify and the tests run exactly the SQL
text that dbt will run: macros/templates.sql, macros/log_features.sql and macros/generated/*.sql
(the macros the compiled models use), with `ref` resolving seeds to a schema of our choice; and
one macro on its own (file_macro: the registry's roles query, model_export.lifecycle.versions)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from dbt_project import macros

# The project's hand-written macros the compiled models call (in macros/).
USED_MACROS = ("templates.sql", "log_features.sql")


def file_macro(path: Path, name: str) -> Callable[..., object]:
    """One macro of one file, alone: it may call no other macro of the project."""
    return macros.macro_namespace([path])[name]


def macro_namespace(project_dir: Path, seed_schema: str) -> dict[str, Callable[..., object]]:
    """name -> callable for every macro the compiled models use."""
    paths = [project_dir / "macros" / name for name in USED_MACROS]
    paths += sorted((project_dir / "macros" / "generated").rglob("*.sql"))
    return macros.macro_namespace(paths, {"ref": lambda name: f"{seed_schema}.{name}"})


def copy_used_macros(project_dir: Path, target: Path) -> None:
    """The macros the compiled models call, copied from `project_dir` into the project folder
    `target` (where compiled models are rendered on their own)."""
    (target / "macros").mkdir(parents=True, exist_ok=True)
    for name in USED_MACROS:
        shutil.copyfile(project_dir / "macros" / name, target / "macros" / name)


def render_macro(project_dir: Path, name: str, seed_schema: str, *args: object) -> str:
    return str(macro_namespace(project_dir, seed_schema)[name](*args))
