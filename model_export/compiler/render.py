"""Rendering the project's macros outside dbt, so verify and the tests run exactly the SQL
text that dbt will run: jinja over macros/templates.sql, macros/log_features.sql and
macros/generated/*.sql (the macros the compiled models use; other macros may need dbt's
context), with `ref` resolving seeds to a schema of our choice; and one macro of plain Jinja on
its own (file_macro: the registry's roles query, model_export.lifecycle.versions)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import jinja2


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        undefined=jinja2.StrictUndefined, autoescape=False, extensions=["jinja2.ext.do"]
    )


def file_macro(path: Path, name: str) -> Callable[..., object]:
    """One macro of one file, alone: it may call no other macro of the project."""
    macro: Callable[..., object] = getattr(
        _environment().from_string(path.read_text(encoding="utf-8")).module, name
    )
    return macro


def macro_namespace(project_dir: Path, seed_schema: str) -> dict[str, Callable[..., object]]:
    """name -> callable for every macro of the project (later files may call earlier ones)."""
    environment = _environment()
    namespace: dict[str, Callable[..., object]] = {"ref": lambda name: f"{seed_schema}.{name}"}
    paths = [project_dir / "macros" / name for name in ("templates.sql", "log_features.sql")]
    paths += sorted((project_dir / "macros" / "generated").rglob("*.sql"))
    for path in paths:
        template = environment.from_string(path.read_text(encoding="utf-8"), globals=namespace)
        module = template.module
        namespace.update(
            {k: v for k, v in vars(module).items() if isinstance(v, jinja2.runtime.Macro)}
        )
    return namespace


def render_macro(project_dir: Path, name: str, seed_schema: str, *args: str) -> str:
    return str(macro_namespace(project_dir, seed_schema)[name](*args))
