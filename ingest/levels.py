"""Level names -> the five canonical levels, by the rule of the dbt macro `normalize_level`
(macros/normalize_level.sql): case and surrounding spaces ignored, the source's own names
(dbt_project.yml log_source.levels) before the project's synonyms (level_names), both read from
dbt_project.yml as dbt reads them. Per-system maps live in loghub.SYSTEMS and are documented in
docs/reference/log-formats.md."""

from __future__ import annotations

from pathlib import Path

from dbt_project.settings import PROJECT_ROOT
from dbt_project.source import level_names, project_vars


def level_map(project_dir: Path = PROJECT_ROOT) -> dict[str, str]:
    """Upper-case name -> level."""
    names = {
        name.upper(): level for level, group in level_names(project_dir).items() for name in group
    }
    own = (project_vars(project_dir).get("log_source") or {}).get("levels") or {}
    return {**names, **{str(name).upper(): str(level).upper() for name, level in own.items()}}


COMMON = level_map()


def canonical_level(raw: str | None, mapping: dict[str, str] = COMMON) -> str | None:
    """The canonical level of a raw name (case and surrounding spaces ignored), or None when
    unknown: unknown levels are loaded with level NULL and counted, never guessed."""
    if raw is None:
        return None
    return mapping.get(raw.strip().upper())
