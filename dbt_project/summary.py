"""A short text summary of what is in the database, for people at a terminal: the configured
log source through its column mapping (optional columns it does not have are left out), and
ml_predictions per model version and source."""

from __future__ import annotations

from pathlib import Path

import psycopg
from psycopg import sql

from dbt_project.database import one, output_table, table_exists
from dbt_project.settings import PROJECT_ROOT, load_settings
from dbt_project.source import LogSource, configured
from dbt_project.source_check import source_columns


def _source_lines(
    cur: psycopg.Cursor, source: LogSource, present: dict[str, tuple[str, str]]
) -> list[str]:
    def column(name: str) -> sql.Composable | None:
        found = source.column(name)
        return (
            sql.Identifier(present[found.lower()][0])
            if found and found.lower() in present
            else None
        )

    timestamp = column("timestamp") or sql.SQL("null::timestamptz")
    labelled = column("is_anomaly")
    labels = sql.SQL("count(*) filter (where {})").format(labelled) if labelled else sql.SQL("null")
    cur.execute(
        sql.SQL("select count(*), min({t}), max({t}), {labels} from {source}").format(
            t=timestamp, labels=labels, source=source.relation
        )
    )
    total, first, last, anomalies = one(cur)
    lines = [f"{source.name}: {total:,} logs from {first} to {last}"]
    lines.append(
        "  labelled anomalies: "
        + (f"{anomalies:,}" if labelled else f"none (no {source.column('is_anomaly')} column)")
    )
    for name, title, limit in (("level", "by level", None), ("service", "top services", 5)):
        found = column(name)
        if found is None:
            lines.append(f"  {title}: none (no {source.column(name)} column)")
            continue
        statement = (
            "select coalesce({c}::text, '(none)'), count(*) from {s} group by 1 order by 2 desc"
        )
        cur.execute(
            sql.SQL(statement + (f" limit {limit}" if limit else "")).format(
                c=found, s=source.relation
            )
        )
        lines.append(f"  {title}: " + ", ".join(f"{value} {n:,}" for value, n in cur.fetchall()))
    return lines


def summary_lines(conn: psycopg.Connection, project_dir: Path = PROJECT_ROOT) -> list[str]:
    settings = load_settings()
    source = configured(project_dir)
    present = source_columns(conn, source)
    if not present:
        return [f"{source.name} does not exist yet: run `make pipeline` or `make use-table`."]
    predictions = output_table("ml_predictions")
    with conn.cursor() as cur:
        lines = _source_lines(cur, source, present)
        shown = f"{settings.logml_schema}.ml_predictions"
        if table_exists(conn, predictions):
            cur.execute(
                sql.SQL(
                    "select model_version, log_source, count(*),"
                    " count(*) filter (where is_anomaly), max(predicted_at)"
                    " from {} group by 1, 2 order by 1, 2"
                ).format(predictions)
            )
            for version, origin, n, anomalies, latest in cur.fetchall():
                lines.append(
                    f"{shown} [{version}, {origin}]: {n:,} scored, {anomalies:,} anomalies,"
                    f" latest {latest}"
                )
        else:
            lines.append(f"{shown} does not exist yet.")
        lines += _incident_lines(cur, conn)
    return lines


def _incident_lines(cur: psycopg.Cursor, conn: psycopg.Connection) -> list[str]:
    """Per model version: its incidents, how many are open, and the newest."""
    incidents = output_table("ml_incidents")
    shown = f"{load_settings().logml_schema}.ml_incidents"
    if not table_exists(conn, incidents):
        return []
    cur.execute(
        sql.SQL(
            "select distinct on (model_version) model_version,"
            " count(*) over (partition by model_version),"
            " count(*) filter (where state = 'open') over (partition by model_version),"
            " service, started_at, severity"
            " from {} order by model_version, started_at desc, incident_id desc"
        ).format(incidents)
    )
    found = [
        f"{shown} [{version}]: {n:,} incidents, {still_open:,} open; the newest on {service}"
        f" from {started} ({severity})"
        for version, n, still_open, service, started, severity in cur.fetchall()
    ]
    return found or [f"{shown}: none"]
