{#-
  One row per log: its id, when it was logged and (when the source has created_at) when it
  was inserted. Ephemeral, so the live view ml_log_freshness holds this SELECT itself and
  reads the source table, never a view that dbt rebuilds (and drops with CASCADE) during a
  build. Deliberately without CTEs: PostgreSQL never pulls a subquery with a WITH clause up
  into the query that reads it, so `order by log_entry_id desc limit 1` on stg_log_entries
  sorts the whole table, while here it is one probe of the primary key.
-#}
{%- set read = log_source_columns(source('logs', 'log_entries')) -%}

select
    {{ read.id }} as log_entry_id,
    {{ read.timestamp }} as logged_at,
    {{ read.created_at }} as created_at
from {{ source('logs', 'log_entries') }}
