{#
  Hooks of the incremental models. They run inside the model's transaction, before the
  statement that reads the watermark, so two overlapping `dbt run`s serialise on the lock:
  the second one waits, then sees the first one's committed rows and scores nothing twice.
  A transaction-level lock is released by the commit (or a rollback), never left behind.
#}
{% macro serialize_runs(name) %}
    select pg_advisory_xact_lock(hashtext('logml.' || '{{ name }}'))
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
