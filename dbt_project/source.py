"""The log source: the user's table or view, recorded once in dbt_project.yml (var log_source,
written by `make use-table`) and read by dbt (macros/log_source.sql) and by every command here,
by the same rules:

- schema and table: the recorded names; a name left null is LOG_SOURCE_SCHEMA /
  LOG_SOURCE_TABLE when set, else public.log_entries. A recorded name that a set variable
  contradicts is an error: there is one source, never two competing ones.
- columns: logml's column names (var log_columns) -> the source's own; a name not recorded is
  read by logml's name, one recorded as null is a column the source does not have.
- levels: the source's own level names -> one of the five levels, before the project's
  synonyms (var level_names).
- identity: schema.table.id_column, the column whose values are the log ids. A model version
  is trained on one source and scores that source only (ml_model_registry.log_source,
  ml_predictions.log_source).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]
from psycopg import sql

from dbt_project.errors import InputError, SettingsError
from dbt_project.settings import PROJECT_ROOT, Settings, load_settings

PROJECT_FILE = "dbt_project.yml"
LEVELS = ("DEBUG", "INFO", "WARN", "ERROR", "FATAL")
# A schema or table name SQL needs no quotes for (the rule of the settings module).
_SQL_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


@dataclass(frozen=True)
class ColumnRule:
    """One of logml's columns (var log_columns) with its kind of type (var log_column_types)."""

    name: str
    required: bool
    kind: str
    accepts: tuple[str, ...] | None  # information_schema data_type names; None: any type
    read_as: str


@dataclass(frozen=True)
class LogSource:
    schema: str
    table: str
    columns: dict[str, str | None]  # logml's name -> the source's column (None: absent)
    levels: dict[str, str]  # the source's own level names -> level

    @property
    def name(self) -> str:
        return f"{self.schema}.{self.table}"

    @property
    def identity(self) -> str:
        return f"{self.name}.{self.columns['id']}"

    @property
    def relation(self) -> sql.Identifier:
        return sql.Identifier(self.schema, self.table)

    def column(self, name: str) -> str | None:
        """The source's column that holds logml's column `name` (None: the source has none)."""
        return self.columns.get(name)

    @property
    def renamed(self) -> dict[str, str | None]:
        """logml's columns that the source holds under another name (or not at all)."""
        return {name: column for name, column in self.columns.items() if column != name}


def project_vars(project_dir: Path = PROJECT_ROOT) -> dict[str, Any]:
    """The vars of the dbt project in `project_dir`."""
    text = (project_dir / PROJECT_FILE).read_text(encoding="utf-8")
    return (yaml.safe_load(text) or {}).get("vars") or {}


def column_rules(project_dir: Path = PROJECT_ROOT) -> list[ColumnRule]:
    variables = project_vars(project_dir)
    kinds = variables["log_column_types"]
    rules = []
    for name, wanted in variables["log_columns"].items():
        kind = kinds[wanted["type"]]
        accepts = None if kind["accepts"] == "any" else tuple(kind["accepts"])
        rules.append(
            ColumnRule(name, bool(wanted["required"]), wanted["type"], accepts, kind["read_as"])
        )
    return rules


def level_names(project_dir: Path = PROJECT_ROOT) -> dict[str, list[str]]:
    """The project's synonyms: level -> its names (var level_names)."""
    return {level: list(names) for level, names in project_vars(project_dir)["level_names"].items()}


def configured(project_dir: Path = PROJECT_ROOT, settings: Settings | None = None) -> LogSource:
    """The source as the project in `project_dir` records it, resolved with the environment."""
    settings = settings or load_settings()
    recorded = project_vars(project_dir).get("log_source") or {}
    names = {}
    for part, variable, from_environment, default in (
        ("schema", "LOG_SOURCE_SCHEMA", settings.log_source_schema, "public"),
        ("table", "LOG_SOURCE_TABLE", settings.log_source_table, "log_entries"),
    ):
        value = recorded.get(part)
        if value and from_environment and from_environment != value:
            raise SettingsError(
                f"{variable}={from_environment} contradicts the source recorded in"
                f" {PROJECT_FILE} (log_source.{part}: {value}): unset {variable}, or record the"
                " source you mean with make use-table"
            )
        names[part] = str(value or from_environment or default)
    mapped = recorded.get("columns") or {}
    columns = {rule.name: mapped.get(rule.name, rule.name) for rule in column_rules(project_dir)}
    levels = {str(name): str(level) for name, level in (recorded.get("levels") or {}).items()}
    return LogSource(names["schema"], names["table"], columns, levels)


# --- what `make use-table` takes ----------------------------------------------------------


def parse_pairs(text: str, what: str) -> dict[str, str | None]:
    """'a=b,c=d,e=' -> {'a': 'b', 'c': 'd', 'e': None} (an empty right side: none)."""
    pairs: dict[str, str | None] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, equals, value = (side.strip() for side in item.partition("="))
        if not equals or not key:
            raise InputError(f"{what}: {item!r} is not name=value (e.g. id=event_id)")
        if key in pairs:
            raise InputError(f"{what}: {key} is given twice")
        pairs[key] = value or None
    return pairs


def mapping(text: str, rules: list[ColumnRule]) -> dict[str, str | None]:
    """MAP='id=event_id,timestamp=ts,...' -> logml's column -> yours (None: you have none)."""
    pairs = parse_pairs(text, "MAP")
    known = [rule.name for rule in rules]
    unknown = [name for name in pairs if name not in known]
    if unknown:
        raise InputError(
            f"MAP names {', '.join(unknown)}, which logml does not read; its columns are"
            f" {', '.join(known)} (docs/your-table.md)"
        )
    required = [rule.name for rule in rules if rule.required and rule.name in pairs]
    left_out = [name for name in required if pairs[name] is None]
    if left_out:
        raise InputError(f"MAP leaves out {', '.join(left_out)}, which logml needs")
    return pairs


def own_levels(text: str) -> dict[str, str]:
    """LEVELS='LOUD=ERROR,sev3=WARN' -> {'LOUD': 'ERROR', 'sev3': 'WARN'}."""
    levels: dict[str, str] = {}
    for name, level in parse_pairs(text, "LEVELS").items():
        if level is None or level.upper() not in LEVELS:
            raise InputError(f"LEVELS: {name}={level or ''} must name one of {', '.join(LEVELS)}")
        levels[name] = level.upper()
    return levels


def checked_name(value: str, what: str) -> str:
    if not _SQL_NAME.fullmatch(value):
        raise InputError(
            f"{what} {value!r} must be a lowercase SQL name (letters a-z, digits and _); for"
            " another name, read the table through a view with such a name"
        )
    return value


def record(project_dir: Path, source: LogSource) -> None:
    """Rewrite the var log_source in the project's dbt_project.yml (the rest of the file, its
    comments included, stays as it is): the schema, the table, the columns whose names differ
    from logml's, and the source's own level names."""
    path = project_dir / PROJECT_FILE
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    start = lines.index("  log_source:\n")
    end = start + 1
    while end < len(lines) and lines[end].startswith("    "):
        end += 1
    value = {
        "schema": source.schema,
        "table": source.table,
        "columns": source.renamed,
        "levels": source.levels,
    }
    block = yaml.safe_dump({"log_source": value}, sort_keys=False, default_flow_style=None)
    new = ["  " + line + "\n" for line in block.splitlines()]
    path.write_text("".join(lines[:start] + new + lines[end:]), encoding="utf-8")
