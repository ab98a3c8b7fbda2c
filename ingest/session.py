"""One load = one transaction: rows are COPYed, rejects recorded, the load logged, then one
commit; any error (or Ctrl-C) rolls everything back, so a load is never half-written.

File loads COPY their good rows into a temporary stage table first, so rows whose log_id is
already in the table can be skipped and recorded (reason duplicate_log_id) instead of
failing the whole COPY; the generator COPYs straight into the table (its rows are valid by
construction and its log_ids are new unless the same seed was loaded before, which is an
error).
"""

from __future__ import annotations

import json
import sys
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import psycopg
import psycopg.errors
from psycopg import sql
from tqdm import tqdm

from dbt_project.database import one, output_table, source_table
from dbt_project.errors import LoadError
from dbt_project.source import configured
from ingest.copy_stream import copy_chunks, escape, prefetch
from ingest.entries import (
    COLUMNS,
    DUPLICATE_LOG_ID,
    Entry,
    Rejected,
)
from ingest.generator import GENERATED_COLUMNS, GeneratorSpec, generate_copy_chunks

_REQUIRED = ("timestamp", "level", "message")
_STAGE_ROWS = 5_000


class EntrySource(Protocol):
    """A file being parsed: its name, its size for the progress bar, and its lines as
    (line number, Entry or Rejected, excerpt of the line for the reject record)."""

    name: str
    size: int

    def bytes_read(self) -> int: ...

    def __iter__(self) -> Iterator[tuple[int, Entry | Rejected, str]]: ...


@dataclass
class LoadReport:
    load_id: str
    rows_read: int = 0
    rows_loaded: int = 0
    unknown_levels: int = 0
    rejects: Counter[str] = field(default_factory=Counter)
    skipped: str | None = None

    @property
    def rows_rejected(self) -> int:
        return sum(self.rejects.values())

    def lines(self) -> list[str]:
        if self.skipped:
            return [self.skipped]
        lines = [
            f"load {self.load_id}: read {self.rows_read:,} rows, loaded {self.rows_loaded:,}, "
            f"rejected {self.rows_rejected:,}"
        ]
        lines += [f"  rejected {reason}: {n:,}" for reason, n in sorted(self.rejects.items())]
        if self.unknown_levels:
            lines.append(
                f"  unknown level (loaded with level NULL, raw level in "
                f"structured_data.raw_level): {self.unknown_levels:,}"
            )
        return lines


def _prepare(cur: psycopg.Cursor) -> list[str]:
    """The loadable columns the source table has (the bookkeeping tables, log_loads and
    log_load_rejects, are the schema migrations'). The loaders write logml's column names: a
    source recorded with other names is the application's to fill."""
    source = configured()
    if source.renamed:
        raise LoadError(
            f"{source.name} holds logml's columns under other names (dbt_project.yml"
            f" log_source.columns: {', '.join(source.renamed)}); the loaders write logml's own"
            " names (the table create-source makes): your application fills this table"
        )
    cur.execute(
        "select column_name from information_schema.columns "
        "where table_schema = %s and table_name = %s",
        (source.schema, source.table),
    )
    present = {row[0] for row in cur.fetchall()}
    if not present:
        raise LoadError(f"table {source.name} does not exist: run `python -m ingest create-source`")
    missing = [c for c in _REQUIRED if c not in present]
    if missing:
        raise LoadError(f"table {source.name} lacks required columns {missing}")
    return [c for c in COLUMNS if c in present]


def _finish(cur: psycopg.Cursor, report: LoadReport, command: str, sources: list[str]) -> None:
    """Record the load and, when rows arrived, refresh the table's planner statistics in the
    same transaction: dbt reads the rows seconds later, long before autovacuum's next cycle,
    and without statistics the planner can pick quadratic joins (ANALYZE samples a bounded
    number of rows, so it stays cheap on large tables, and it sees this transaction's rows)."""
    if report.rows_loaded:
        cur.execute(sql.SQL("analyze {}").format(source_table()))
    cur.execute(
        sql.SQL(
            "insert into {} (load_id, command, sources, finished_at, rows_read, rows_loaded, "
            "rows_rejected, unknown_levels, reject_counts) "
            "values (%s, %s, %s, clock_timestamp(), %s, %s, %s, %s, %s)"
        ).format(output_table("log_loads")),
        (
            report.load_id,
            command,
            sources,
            report.rows_read,
            report.rows_loaded,
            report.rows_rejected,
            report.unknown_levels,
            json.dumps(dict(report.rejects)),
        ),
    )


def load_entries(
    conn: psycopg.Connection, sources: Sequence[EntrySource], command: str
) -> LoadReport:
    """Load exactly the good rows of all sources in one transaction; record every reject."""
    report = LoadReport(str(uuid.uuid4()))
    rejected: list[str] = []
    names = [s.name for s in sources]

    def reject(source: str, line: int, error: Rejected, raw: str) -> None:
        report.rejects[error.reason] += 1
        detail = str(error).removeprefix(error.reason).removeprefix(": ")
        fields = (report.load_id, source, line, error.reason, detail or None, raw)
        rejected.append("\t".join(map(escape, fields)) + "\n")

    def stage_lines(columns: list[str]) -> Iterator[str]:
        seen: set[str] = set()
        buffer: list[str] = []
        total = sum(s.size for s in sources)
        with tqdm(total=total, unit="B", unit_scale=True, file=sys.stderr, disable=None) as bar:
            for number, source in enumerate(sources):
                done = 0
                for line, item, raw in source:
                    report.rows_read += 1
                    if report.rows_read % 10_000 == 0:
                        bar.update(source.bytes_read() - done)
                        done = source.bytes_read()
                    if isinstance(item, Rejected):
                        reject(source.name, line, item, raw)
                        continue
                    try:
                        values = item.copy_values()
                    except Rejected as error:
                        reject(source.name, line, error, raw)
                        continue
                    if item.log_id is not None:
                        if item.log_id in seen:
                            duplicate = Rejected(
                                DUPLICATE_LOG_ID, f"{item.log_id} earlier in this load"
                            )
                            reject(source.name, line, duplicate, raw)
                            continue
                        seen.add(item.log_id)
                    report.unknown_levels += item.level is None and bool(item.raw_level)
                    buffer.append(
                        "\t".join([*(values[c] for c in columns), str(number), str(line)])
                    )
                    if len(buffer) >= _STAGE_ROWS:
                        yield "\n".join(buffer) + "\n"
                        buffer.clear()
                bar.update(source.bytes_read() - done)
        if buffer:
            yield "\n".join(buffer) + "\n"

    target, rejects = source_table(), output_table("log_load_rejects")
    with conn.transaction(), conn.cursor() as cur:
        columns = _prepare(cur)
        stage = sql.Identifier("logml_load_stage")
        column_list = sql.SQL(", ").join(map(sql.Identifier, columns))
        cur.execute(
            sql.SQL("create temp table {} on commit drop as select {} from {} with no data").format(
                stage, column_list, target
            )
        )
        cur.execute(
            sql.SQL("alter table {} add column _source int, add column _line bigint").format(stage)
        )
        copy_chunks(cur, stage, [*columns, "_source", "_line"], stage_lines(columns))
        if "log_id" in columns:
            cur.execute(
                sql.SQL(
                    "with dup as (delete from {stage} s using {target} t where t.log_id = s.log_id "
                    "returning s._source, s._line, s.log_id) "
                    "insert into {rejects} (load_id, source, line_number, reason, detail) "
                    "select %s, (%s::text[])[dup._source + 1], dup._line, %s, "
                    "'log_id ' || dup.log_id || ' is already in the table' from dup"
                ).format(stage=stage, target=target, rejects=rejects),
                (report.load_id, names, DUPLICATE_LOG_ID),
            )
            if cur.rowcount:
                report.rejects[DUPLICATE_LOG_ID] += cur.rowcount
        cur.execute(
            sql.SQL("insert into {} ({}) select {} from {} order by _source, _line").format(
                target, column_list, column_list, stage
            )
        )
        report.rows_loaded = cur.rowcount
        copy_chunks(
            cur,
            rejects,
            ["load_id", "source", "line_number", "reason", "detail", "excerpt"],
            rejected,
        )
        _finish(cur, report, command, names)
    return report


def load_generated(
    conn: psycopg.Connection, spec: GeneratorSpec, *, if_empty: bool = False
) -> LoadReport:
    """Generate spec.rows logs and COPY them straight into the source table."""
    report = LoadReport(str(uuid.uuid4()))
    target = source_table()
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("select to_regclass(%s) is not null", (target.as_string(cur),))
        if if_empty and one(cur)[0]:
            # `select 1`: Citus rejects an empty target list on a distributed table
            cur.execute(sql.SQL("select exists (select 1 from {})").format(target))
            if one(cur)[0]:
                report.skipped = "source table is not empty: nothing generated (--if-empty)"
                return report
        columns = _prepare(cur)
        missing = [c for c in GENERATED_COLUMNS if c not in columns]
        if missing:
            raise LoadError(f"generate needs the columns create-source makes; missing {missing}")

        def chunks(bar: tqdm) -> Iterable[str]:
            for rows, text in prefetch(generate_copy_chunks(spec)):
                yield text
                bar.update(rows)

        with tqdm(total=spec.rows, unit="rows", file=sys.stderr, disable=None) as bar:
            try:
                copy_chunks(cur, target, GENERATED_COLUMNS, chunks(bar))
            except psycopg.errors.UniqueViolation as error:
                raise LoadError(
                    f"log_ids gen-{spec.seed}-* are already in the table (this seed was loaded "
                    "before): nothing loaded; use another --seed, or --if-empty"
                ) from error
        report.rows_read = report.rows_loaded = spec.rows
        _finish(cur, report, f"generate --rows {spec.rows} --seed {spec.seed}", [])
    return report
