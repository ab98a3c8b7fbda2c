"""What a log source looks like to logml, found in the database before any build: `make
use-table` records a source only when this finds no problem, and `make check-source` prints it.

- the relation (table or view) and each of logml's columns: the source's column it is read
  from, its type, and whether the type is one its kind accepts (dbt_project.yml log_columns and
  log_column_types, the rules the staging model applies too: macros/log_source.sql);
- in the newest SAMPLE_ROWS rows by id (one index range, never a scan of the table): ids and
  timestamps that are NULL, and the level names with the level each reads as, unknown ones
  counted (the SQL of the dbt macro normalize_level, rendered);
- the indexes logml would like, each with what it buys, found by asking the planner how it
  would read the source (so a view is judged by the tables beneath it); never created here;
- which source the active model version was trained on, when it is another one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from dbt_project.database import one, output_table
from dbt_project.macros import render_macro
from dbt_project.settings import PROJECT_ROOT
from dbt_project.source import ColumnRule, LogSource, column_rules, level_names

SAMPLE_ROWS = 100_000
NORMALIZE_LEVEL = PROJECT_ROOT / "macros" / "normalize_level.sql"
_KINDS = {"r": "table", "p": "partitioned table", "v": "view", "f": "foreign table"}


@dataclass(frozen=True)
class Column:
    rule: ColumnRule
    source_column: str | None  # as the mapping names it (None: not mapped)
    found: str | None  # the column's name in the catalog (None: the source has none)
    data_type: str | None

    @property
    def accepted(self) -> bool:
        return self.rule.accepts is None or self.data_type in self.rule.accepts


@dataclass
class SourceCheck:
    source: LogSource
    kind: str | None = None
    estimated_rows: int | None = None
    columns: list[Column] = field(default_factory=list)
    levels: list[tuple[str | None, str | None, int]] = field(default_factory=list)
    sampled: int = 0
    problems: list[str] = field(default_factory=list)  # the source cannot be read as it is
    warnings: list[str] = field(default_factory=list)  # it can, but something is lost
    notes: list[str] = field(default_factory=list)  # indexes to consider, next steps

    @property
    def unknown_levels(self) -> dict[str, int]:
        return {raw: n for raw, level, n in self.levels if raw is not None and level is None}

    def lines(self) -> list[str]:
        """The report, for people at a terminal."""
        source = self.source
        if self.kind is None:
            return [
                f"{source.name}: no such table or view",
                *[f"problem: {p}" for p in self.problems],
            ]
        size = "" if self.estimated_rows is None else f", about {self.estimated_rows:,} rows"
        lines = [f"{source.name} ({self.kind}{size}); logml's columns:"]
        for column in self.columns:
            name = column.rule.name + ("" if column.rule.required else " (optional)")
            if column.found is None:
                absent = "none" if column.source_column is None else f"no {column.source_column}"
                lines.append(f"  {name:<28} {absent}: read as NULL")
            else:
                verdict = "ok" if column.accepted else "WRONG TYPE"
                lines.append(f"  {name:<28} <- {column.found} ({column.data_type}): {verdict}")
        if self.sampled:
            read = ", ".join(
                f"{raw if raw is not None else 'NULL'}->{level or 'unknown'} {n:,}"
                for raw, level, n in self.levels
            )
            lines.append(f"levels in the newest {self.sampled:,} rows: {read}")
        lines += [f"problem: {text}" for text in self.problems]
        lines += [f"warning: {text}" for text in self.warnings]
        lines += [f"note: {text}" for text in self.notes]
        if not self.problems:
            lines.append(f"{source.name} can be scored as {source.identity}")
        return lines


def source_columns(conn: psycopg.Connection, source: LogSource) -> dict[str, tuple[str, str]]:
    """The source's columns: lower-case name -> (name, information_schema data_type), as dbt
    reads them (empty when the source does not exist)."""
    rows = conn.execute(
        "select column_name, data_type from information_schema.columns"
        " where table_schema = %s and table_name = %s order by ordinal_position",
        (source.schema, source.table),
    ).fetchall()
    return {name.lower(): (name, data_type.lower()) for name, data_type in rows}


def check(
    conn: psycopg.Connection, source: LogSource, project_dir: Any = PROJECT_ROOT
) -> SourceCheck:
    found = SourceCheck(source)
    kind = conn.execute(
        "select c.relkind::text, c.reltuples::bigint from pg_class as c"
        " where c.oid = to_regclass(%s)",
        (source.relation.as_string(conn),),
    ).fetchone()
    if kind is None:
        found.problems.append(
            f"{source.name} does not exist (or this database user cannot see it): create it, or"
            " name your table with make use-table SCHEMA=... TABLE=..."
        )
        return found
    found.kind = _KINDS.get(kind[0], kind[0])
    found.estimated_rows = kind[1] if kind[0] in ("r", "p") and kind[1] >= 0 else None
    present = source_columns(conn, source)
    for rule in column_rules(project_dir):
        mapped = source.column(rule.name)
        name, data_type = present.get(mapped.lower(), (None, None)) if mapped else (None, None)
        found.columns.append(Column(rule, mapped, name, data_type))
    _judge_columns(found, present)
    if found.problems:
        return found
    _sample(conn, found, project_dir)
    _indexes(conn, found)
    _model(conn, found)
    return found


def _judge_columns(found: SourceCheck, present: dict[str, tuple[str, str]]) -> None:
    others = ", ".join(name for name, _ in present.values())
    for column in found.columns:
        rule = column.rule
        if (
            column.found is None
            and not rule.required
            and column.source_column not in (None, rule.name)
        ):
            found.problems.append(
                f"logml's {rule.name} is read from {column.source_column}, which"
                f" {found.source.name} does not have: map it to one of your columns, or leave it"
                f" out (MAP='{rule.name}=') ({found.source.name} has: {others})"
            )
        elif column.found is None and rule.required:
            where = (
                "is not mapped"
                if column.source_column is None
                else f"is read from {column.source_column}, which {found.source.name} does not have"
            )
            found.problems.append(
                f"logml's required column {rule.name} {where}: map it to one of your columns"
                f" with MAP='{rule.name}=<your column>' ({found.source.name} has: {others})"
            )
        elif column.found is not None and not column.accepted and rule.name == "id":
            # a view cannot take a column: the table under it can, and the view passes it on
            table = (
                "the table under the view (then select it in the view)"
                if found.kind == "view"
                else found.source.relation.as_string()
            )
            found.problems.append(
                f"column {column.found} (logml's id) is {column.data_type}; logml reads new logs"
                " by id, so it needs integer ids that grow as logs arrive, with an index: map id"
                " to such a column (a table gets one with `alter table"
                f" {table} add column logml_id bigint generated always"
                " as identity unique`: you run it, logml never changes your table)"
            )
        elif column.found is not None and not column.accepted:
            accepts = " or ".join(rule.accepts or ())
            leave_out = "" if rule.required else f", leave it out (MAP='{rule.name}=')"
            found.problems.append(
                f"column {column.found} (logml's {rule.name}) is {column.data_type}; logml reads"
                f" {rule.name} from {accepts}: map {rule.name} to a column of such a type"
                f"{leave_out} or read your table through a view that casts it"
                f" ({column.found}::{rule.read_as})"
            )
        elif column.data_type == "timestamp without time zone":
            found.notes.append(f"{column.found} has no time zone: logml reads it as UTC")


def _read(found: SourceCheck, name: str) -> sql.Composable:
    column = next(c for c in found.columns if c.rule.name == name)
    if column.found is None:
        return sql.SQL("null")
    return sql.Identifier(column.found)


def _sample(conn: psycopg.Connection, found: SourceCheck, project_dir: Any) -> None:
    """NULL ids and timestamps and the level names, in the newest SAMPLE_ROWS rows by id."""
    source = found.source
    level = sql.SQL(render_macro(
        [NORMALIZE_LEVEL], "normalize_level", "raw", level_names(project_dir), source.levels
    ))  # fmt: skip
    newest = sql.SQL(
        "select {id} as id, {timestamp} as logged_at, {level}::text as raw from {source}"
        " order by {id} desc limit {rows}"
    ).format(
        id=_read(found, "id"),
        timestamp=_read(found, "timestamp"),
        level=_read(found, "level"),
        source=source.relation,
        rows=sql.Literal(SAMPLE_ROWS),
    )
    rows = conn.execute(
        sql.SQL(
            "select raw, {level} as level, count(*), count(*) filter (where id is null),"
            " count(*) filter (where logged_at is null) from ({newest}) as sample"
            " group by 1, 2 order by 3 desc"
        ).format(level=level, newest=newest)
    ).fetchall()
    found.levels = [(raw, level_, n) for raw, level_, n, _, _ in rows]
    found.sampled = sum(n for _, _, n, _, _ in rows)
    for what, missing in (("id", sum(r[3] for r in rows)), ("timestamp", sum(r[4] for r in rows))):
        if missing:
            column = next(c.found for c in found.columns if c.rule.name == what)
            found.warnings.append(
                f"{missing:,} of the newest {found.sampled:,} rows have no {column} (logml's"
                f" {what}): "
                + (
                    "they are never scored"
                    if what == "id"
                    else "the build's not_null test on stg_log_entries.logged_at fails"
                )
            )
    unknown = found.unknown_levels
    if unknown:
        listed = sorted(unknown.items(), key=lambda item: -item[1])[:10]
        suggestion = ",".join(f"{raw.strip()}=<level>" for raw, _ in listed)
        found.warnings.append(
            f"{sum(unknown.values()):,} of the newest {found.sampled:,} rows have a level logml"
            f" does not know ({', '.join(f'{raw!r} {n:,}' for raw, n in listed)}): they are"
            " scored with level unknown; say what each means with"
            f" LEVELS='{suggestion}' (levels: DEBUG, INFO, WARN, ERROR, FATAL)"
        )


# What each index buys, and the query whose plan shows whether the source has it.
_WANTED = (
    (
        "id",
        True,
        "select 1 from {source} where {column} > 0",
        "each run reads only the logs above its watermark, by id: without it every run reads"
        " the whole table",
    ),
    (
        "timestamp",
        False,
        "select max({column}) from {source}",
        "make freshness (dbt source freshness), ml_status's newest log and rescore_from read"
        " one index entry instead of the whole table",
    ),
)


def _scans(conn: psycopg.Connection, statement: sql.Composable) -> list[str]:
    """The relations a query would read whole even with sequential scans discouraged (the
    planner still picks one only where no index reaches the rows)."""
    with conn.transaction():
        conn.execute("set local enable_seqscan = off")
        explain = sql.SQL("explain (format json, verbose) {}").format(statement)
        plan = conn.execute(explain).fetchone()
    scanned: list[str] = []

    def walk(node: dict[str, Any]) -> None:
        if node.get("Node Type") == "Seq Scan":
            scanned.append(f"{node.get('Schema', '')}.{node.get('Relation Name', '')}".strip("."))
        for child in node.get("Plans", []):
            walk(child)

    document = plan[0] if plan else []
    walk((json.loads(document) if isinstance(document, str) else document)[0]["Plan"])
    return scanned


def _indexes(conn: psycopg.Connection, found: SourceCheck) -> None:
    for name, essential, query, buys in _WANTED:
        column = next(c.found for c in found.columns if c.rule.name == name)
        assert column is not None
        statement = sql.SQL(query).format(
            source=found.source.relation, column=sql.Identifier(column)
        )
        scanned = _scans(conn, sql.SQL("{} /* logml check-source */").format(statement))
        if not scanned:
            continue
        if found.kind == "view":
            fix = (
                f"the view reads {', '.join(scanned)} whole; an index on the column of"
                f" {scanned[0]} that {column} comes from would"
            )
        else:
            create = sql.SQL("create index on {} ({})").format(
                found.source.relation, sql.Identifier(column)
            )
            fix = f"`{create.as_string(conn)}` would"
        text = f"no index reaches {column} (logml's {name}); {fix}: {buys}"
        (found.warnings if essential else found.notes).append(text + ". logml never creates it")


def _model(conn: psycopg.Connection, found: SourceCheck) -> None:
    """A note when the active model version was trained on another source."""
    registry = output_table("ml_model_registry")
    exists = one(conn.execute("select to_regclass(%s) is not null", (registry.as_string(conn),)))[0]
    if not exists:
        return
    active = conn.execute(
        sql.SQL("select model_version, max(log_source) from {} where is_active group by 1").format(
            registry
        )
    ).fetchone()
    if active is None:
        found.notes.append("no model version is active yet: make export-model trains one on it")
    elif active[1] != found.source.identity:
        found.notes.append(
            f"the active model version {active[0]} was trained on {active[1]}; a run scores only"
            f" the source its active version was trained on, so `make run` stops until"
            f" `make export-model` trains a version on {found.source.identity} (the predictions"
            f" of {active[1]} stay, marked with their source)"
        )
