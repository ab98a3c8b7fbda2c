"""The project's own macros rendered outside dbt (plain jinja2 with dbt's `do` extension), so
Python runs exactly the SQL text dbt runs: the schema migrations (dbt_project.migrations) and
the compiled models (model_export.compiler.render). Only macros that need nothing of dbt's
context (no adapter, no run_query) can be rendered this way."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import jinja2


def macro_namespace(
    paths: Iterable[Path], context: Mapping[str, object] | None = None
) -> dict[str, Callable[..., object]]:
    """name -> callable for every macro in `paths` (later files may call earlier ones), with
    `context` (e.g. a `ref`) visible to them."""
    environment = jinja2.Environment(
        undefined=jinja2.StrictUndefined, autoescape=False, extensions=["jinja2.ext.do"]
    )
    namespace: dict[str, Callable[..., object]] = dict(context or {})  # type: ignore[arg-type]
    for path in paths:
        template = environment.from_string(path.read_text(encoding="utf-8"), globals=namespace)
        namespace.update(
            {k: v for k, v in vars(template.module).items() if isinstance(v, jinja2.runtime.Macro)}
        )
    return namespace


def render_macro(paths: Iterable[Path], name: str, *args: object) -> str:
    """The text of macro `name` called with `args`."""
    return str(macro_namespace(paths)[name](*args))
