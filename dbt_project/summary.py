"""A short text summary of what is in the database, for people at a terminal."""

from __future__ import annotations

from psycopg2 import sql

from dbt_project.database import connect, source_relation


def _table_exists(cur, schema: str, table: str) -> bool:
    cur.execute("select to_regclass(%s) is not null", (f'"{schema}"."{table}"',))
    return bool(cur.fetchone()[0])


def summary_lines(url: str | None = None, output_schema: str = "ml") -> list[str]:
    schema, table = source_relation()
    lines: list[str] = []
    with connect(url) as conn, conn.cursor() as cur:
        if not _table_exists(cur, schema, table):
            return [f"{schema}.{table} does not exist yet: run `make pipeline`."]
        source = sql.Identifier(schema, table)
        cur.execute(
            sql.SQL(
                'select count(*), min("timestamp"), max("timestamp"), '
                "count(*) filter (where is_anomaly) from {}"
            ).format(source)
        )
        total, first, last, labelled = cur.fetchone()
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
        if _table_exists(cur, output_schema, "ml_predictions"):
            cur.execute(
                sql.SQL(
                    "select model_version, count(*), count(*) filter (where is_anomaly), "
                    "max(predicted_at) from {} group by 1 order by 1"
                ).format(sql.Identifier(output_schema, "ml_predictions"))
            )
            for version, n, anomalies, latest in cur.fetchall():
                lines.append(
                    f"{output_schema}.ml_predictions [{version}]: {n:,} scored, "
                    f"{anomalies:,} anomalies, latest {latest}"
                )
        else:
            lines.append(f"{output_schema}.ml_predictions does not exist yet.")
    return lines
