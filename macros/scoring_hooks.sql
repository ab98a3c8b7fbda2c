{#
  Hooks of the incremental models. They run inside the model's transaction, before the
  statement that reads the watermark, so two overlapping `dbt run`s serialise on the lock:
  the second one waits, then sees the first one's committed rows and scores nothing twice.
  A transaction-level lock is released by the commit (or a rollback), never left behind.
#}
{% macro serialize_runs(name) %}
    select {{ run_lock(name) }}
{% endmacro %}

{#- The run's lock of a model, as an expression (retention takes it in a DO block). -#}
{% macro run_lock(name) -%}
pg_advisory_xact_lock(hashtext('logml.' || '{{ name }}'))
{%- endmacro %}

{#
  For a model whose CTEs join each other on several columns: the planner has no statistics
  for a CTE's output, multiplies its default selectivities per join column, expects a row or
  two, and picks a nested loop that rescans the other side for each row. That is quadratic:
  ml_template_buckets' first build over 200,000 lines took 66 s that way, and 2.5 s with hash
  joins; a run adding 1,000 lines 20 s against 0.4 s. Lookups that only a nested loop can do
  (LATERAL ... LIMIT 1) keep it. Scoped to the model's transaction (a hook inside it).
#}
{% macro without_nested_loops() %}
    set local enable_nestloop = off
{% endmacro %}

{#
  Indexes of a table, created when missing. Run them outside the model's transaction: on a
  --full-refresh dbt builds a new table, swaps it in and drops the old one after the commit,
  and the old one still owns the index names until then.
#}
{% macro create_index_if_missing(relation, name, columns, unique=false) %}
    create {{ 'unique ' if unique }}index if not exists {{ name }}
    on {{ relation }} ({{ columns | join(', ') }})
{% endmacro %}

{#
  Fresh planner statistics for a table a run has just written a lot into, inside the run's
  own transaction (ANALYZE sees the transaction's own rows). The rule is autovacuum's: analyse
  when the rows this transaction inserted exceed autovacuum_analyze_threshold +
  autovacuum_analyze_scale_factor x the rows the current statistics describe, or when the
  table has never been analysed (a first build). Autovacuum gets there too, but up to a
  minute later and only once it sees the counts; the build's own tests and the next models
  read the table at once. A small incremental run (10,000 rows into 1,000,000) stays under
  the threshold and pays nothing.
#}
{% macro analyze_after_bulk_insert(relation) %}
    do $$
    begin
        if (
            select
                tables.reltuples < 0
                or pg_stat_get_xact_tuples_inserted(tables.oid)
                > current_setting('autovacuum_analyze_threshold')::float8
                + current_setting('autovacuum_analyze_scale_factor')::float8
                * greatest(tables.reltuples, 0)
            from pg_class as tables
            where tables.oid = '{{ relation }}'::regclass
        ) then
            analyze {{ relation }};
        end if;
    end $$
{% endmacro %}

{#
  A column that a newer release added to an incremental model, added in place to a table an
  older release built, before dbt compares the table with the model's contract: the rows
  already there get `existing_rows_value` (a constant: PostgreSQL records it once, without
  rewriting the table), rows written from then on what the model writes. A table that has the
  column pays one catalog lookup.
#}
{% macro add_column_if_missing(relation, column, sql_type, existing_rows_value) %}
{%- if is_incremental() %}
    do $$
    begin
        if not exists (
            select from pg_attribute
            where
                attrelid = '{{ relation }}'::regclass
                and attname = '{{ column }}'
                and not attisdropped
        ) then
            alter table {{ relation }}
                add column {{ column }} {{ sql_type }} default {{ existing_rows_value }};
            alter table {{ relation }} alter column {{ column }} drop default;
        end if;
    end $$
{%- endif %}
{% endmacro %}
