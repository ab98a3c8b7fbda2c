"""A short text summary of what is in the database, for people at a terminal."""

from __future__ import annotations

import psycopg
from psycopg import sql

from dbt_project.database import one, output_table, source_table
from dbt_project.settings import load_settings


def _table_exists(conn: psycopg.Connection, table: sql.Identifier) -> bool:
    return bool(one(conn.execute("select to_regclass(%s) is not null", (table.as_string(),)))[0])


def summary_lines(conn: psycopg.Connection) -> list[str]:
    settings = load_settings()
    source, predictions = source_table(), output_table("ml_predictions")
    schema, table = settings.source_relation()
    if not _table_exists(conn, source):
        return [f"{schema}.{table} does not exist yet: run `make pipeline`."]
    lines: list[str] = []
    with conn.cursor() as cur:
        cur.execute(
            sql.SQL(
                'select count(*), min("timestamp"), max("timestamp"), '
                "count(*) filter (where is_anomaly) from {}"
            ).format(source)
        )
        total, first, last, labelled = one(cur)
        lines.append(f"{schema}.{table}: {total:,} logs from {first} to {last}")
        lines.append(f"  labelled anomalies: {labelled:,}")
        cur.execute(
            sql.SQL(
                "select coalesce(level::text, '(none)'), count(*) from {} "
                "group by 1 order by 2 desc"
            ).format(source)
        )
        lines.append("  by level: " + ", ".join(f"{lvl} {n:,}" for lvl, n in cur.fetchall()))
        cur.execute(
            sql.SQL(
                "select coalesce(service, '(none)'), count(*) from {} "
                "group by 1 order by 2 desc limit 5"
            ).format(source)
        )
        lines.append("  top services: " + ", ".join(f"{s} {n:,}" for s, n in cur.fetchall()))
        shown = f"{settings.logml_schema}.ml_predictions"
        if _table_exists(conn, predictions):
            cur.execute(
                sql.SQL(
                    "select model_version, count(*), count(*) filter (where is_anomaly), "
                    "max(predicted_at) from {} group by 1 order by 1"
                ).format(predictions)
            )
            for version, n, anomalies, latest in cur.fetchall():
                lines.append(
                    f"{shown} [{version}]: {n:,} scored, {anomalies:,} anomalies, latest {latest}"
                )
        else:
            lines.append(f"{shown} does not exist yet.")
    return lines
