{#-
  One row per log: its id, when it was logged and (when the source has created_at) when it
  was inserted. Deliberately without CTEs: PostgreSQL never flattens a view that has a WITH
  clause into the query that reads it, so `order by log_entry_id desc limit 1` on
  stg_log_entries sorts the whole table, while on this view it is one probe of the primary
  key (ml_log_freshness reads it on every status request).
-#}
{%- set present = source_column_names(source('logs', 'log_entries')) -%}

select
    id as log_entry_id,
    "timestamp" as logged_at,
    {{ source_column(present, 'created_at', 'timestamptz') }} as created_at
from {{ source('logs', 'log_entries') }}
