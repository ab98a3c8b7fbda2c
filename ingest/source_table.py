"""The source table `log_entries`: in production it is the user's own table, so the project
creates it with a command (not a dbt model), exactly as the old system defined it, and only
when the configured source does not exist: on a table or view that exists it creates nothing,
not even an index (`make check-source` suggests the indexes instead). On a Citus
coordinator it is created distributed by id instead (docs/internals/scale.md): a bigint id (the
type of ml_predictions.log_entry_id, which is co-located with it) and no UNIQUE on log_id alone
(Citus allows a unique constraint only with the distribution column in it; the loader already
rejects a log_id that is in the table)."""

from __future__ import annotations

import psycopg
from psycopg import sql

from dbt_project.database import one
from dbt_project.errors import InputError
from dbt_project.source import configured

LEVELS = ("DEBUG", "INFO", "WARN", "ERROR", "FATAL")
SOURCE_TYPES = ("splunk", "sap", "application")


_DDL = """
do $$ begin
  create type {schema}.log_level as enum ('DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL');
exception when duplicate_object then null; end $$;
do $$ begin
  create type {schema}.log_source_type as enum ('splunk', 'sap', 'application');
exception when duplicate_object then null; end $$;
create table {table} (
  id {id_type} primary key,
  log_id varchar(255) {log_id_unique},
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
create index {timestamp_index} on {table} ("timestamp");
"""


_DISTRIBUTE = """
select create_distributed_table(%(table)s, 'id')
where not exists (select from pg_dist_partition where logicalrelid = %(table)s::regclass)
"""


def create_source_table(conn: psycopg.Connection) -> bool:
    """Create the ENUM types, the table and its timestamp index when the configured source
    does not exist (True), else nothing (False); on a Citus coordinator, the table created
    here is distributed by id."""
    source = configured()
    schema, table = source.schema, source.table
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("select to_regclass(%s) is not null", (f'"{schema}"."{table}"',))
        if one(cur)[0]:
            return False
        if source.renamed:
            raise InputError(
                f"{source.name} does not exist, and dbt_project.yml gives logml's columns other"
                f" names there ({', '.join(source.renamed)}): create-source makes logml's own"
                " table only. Create your table, or record another source with make use-table"
            )
        cur.execute("select exists (select from pg_extension where extname = 'citus')")
        citus = one(cur)[0]
        statement = sql.SQL(_DDL).format(
            schema=sql.Identifier(schema),
            table=source.relation,
            timestamp_index=sql.Identifier(f"{table}_timestamp_idx"),
            id_type=sql.SQL("bigserial" if citus else "serial"),
            log_id_unique=sql.SQL("" if citus else "unique"),
        )
        cur.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(schema)))
        cur.execute(statement)
        if citus:
            cur.execute(_DISTRIBUTE, {"table": f'"{schema}"."{table}"'})
    return True
