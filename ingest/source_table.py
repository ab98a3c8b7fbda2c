"""The source table `log_entries`: in production it is the user's own table, so the project
creates it with a command (not a dbt model), exactly as the old system defined it."""

from __future__ import annotations

from psycopg2 import sql

from dbt_project.database import connect, source_relation

LEVELS = ("DEBUG", "INFO", "WARN", "ERROR", "FATAL")
SOURCE_TYPES = ("splunk", "sap", "application")


_DDL = """
do $$ begin
  create type {schema}.log_level as enum ('DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL');
exception when duplicate_object then null; end $$;
do $$ begin
  create type {schema}.log_source_type as enum ('splunk', 'sap', 'application');
exception when duplicate_object then null; end $$;
create table if not exists {table} (
  id serial primary key,
  log_id varchar(255) unique,
  "timestamp" timestamptz not null,
  level {schema}.log_level,
  message text not null,
  source_type {schema}.log_source_type,
  host varchar(255),
  service varchar(255),
  category varchar(255),
  http_status integer,
  response_time_ms decimal(10, 2),
  is_anomaly boolean default false,
  anomaly_type varchar(100),
  raw_log text,
  structured_data jsonb,
  created_at timestamptz default now()
);
create index if not exists {timestamp_index} on {table} ("timestamp");
"""


def create_source_table(url: str | None = None) -> None:
    """Create the ENUM types, the table and its timestamp index if they do not exist."""
    schema, table = source_relation()
    statement = sql.SQL(_DDL).format(
        schema=sql.Identifier(schema),
        table=sql.Identifier(schema, table),
        timestamp_index=sql.Identifier(f"{table}_timestamp_idx"),
    )
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(schema)))
        cur.execute(statement)
