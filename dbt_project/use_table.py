"""`make use-table`: check a log table or view and record it as the project's log source
(dbt_project.yml, var log_source), and `make check-source`: check the recorded one. Both print
what dbt_project/source_check.py finds; use-table records nothing when it finds a problem."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import psycopg

from dbt_project.errors import InputError
from dbt_project.settings import load_settings
from dbt_project.source import (
    PROJECT_FILE,
    LogSource,
    checked_name,
    column_rules,
    configured,
    mapping,
    own_levels,
    record,
)
from dbt_project.source_check import check


def requested(
    project_dir: Path, schema: str, table: str, map_text: str, levels_text: str
) -> LogSource:
    """The source `make use-table` names: logml's columns by their own names unless MAP says
    otherwise. A LOG_SOURCE_* variable that names another table would contradict it."""
    rules = column_rules(project_dir)
    columns: dict[str, str | None] = {rule.name: rule.name for rule in rules}
    columns.update(mapping(map_text, rules))
    schema, table = checked_name(schema, "SCHEMA"), checked_name(table, "TABLE")
    settings = load_settings()
    for variable, value, wanted in (
        ("LOG_SOURCE_SCHEMA", settings.log_source_schema, schema),
        ("LOG_SOURCE_TABLE", settings.log_source_table, table),
    ):
        if value and value != wanted:
            raise InputError(
                f"{variable}={value} is set in your environment and would contradict the source"
                f" you record: unset it (the recorded source replaces it)"
            )
    return LogSource(schema, table, columns, own_levels(levels_text))


def use_table(conn: psycopg.Connection, project_dir: Path, source: LogSource) -> int:
    found = check(conn, source, project_dir)
    print("\n".join(found.lines()))
    if found.problems:
        print(f"nothing recorded: {source.name} cannot be scored as it is (see above)")
        return 1
    # the columns as the catalog spells them
    columns = {c.rule.name: c.found or c.source_column for c in found.columns}
    record(project_dir, replace(source, columns=columns))
    print(
        f"recorded {source.name} in {project_dir / PROJECT_FILE} (log_source): commit it, so"
        " that dbt and the scheduled runs read the same source."
        " Next: make export-model (trains a model version on it), then make run"
    )
    return 0


def check_source(conn: psycopg.Connection, project_dir: Path) -> int:
    found = check(conn, configured(project_dir), project_dir)
    print("\n".join(found.lines()))
    return 1 if found.problems else 0
