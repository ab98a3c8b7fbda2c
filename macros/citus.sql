{#
  Citus (distributed PostgreSQL, docs/internals/scale.md). Everything here switches on by
  itself when the log source table is a Citus distributed table and changes nothing otherwise:
  on a plain PostgreSQL every macro below falls back to dbt's own behaviour or renders nothing.

  - A model with config meta {citus_distribution_column: <column>} (ml_predictions) becomes a
    distributed table co-located with the log source, and is only ever filled by one
    `insert into <table> select ...` that Citus pushes down to the workers: one task per
    shard, reading the logs of that shard, with no row of logs or predictions through the
    coordinator. dbt's incremental materialization first builds a temp table from the model's
    SQL on the coordinator; here that table is created WITH NO DATA (the query is not run: it
    only gives dbt the columns for on_schema_change) and the append strategy inserts from the
    model's SQL instead of from it.
  - Seeds and the detector's history tables become reference tables (a copy on every node,
    joined inside each shard's task).
  - The SET LOCALs of the model's hooks are sent to the workers' connections too.
#}

{#- Whether the log source is a Citus distributed table (false while dbt parses, and in unit
    tests: they read fixtures, not the tables, and run no hooks). -#}
{% macro citus_enabled() %}
    {%- if not execute or (model is defined and model.resource_type == 'unit_test') -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set installed = run_query("select to_regclass('pg_catalog.pg_dist_partition') is not null") -%}
    {%- if not installed.columns[0].values()[0] -%}{{ return(false) }}{%- endif -%}
    {%- set source = citus_log_source() -%}
    {%- set found = run_query(
        "select column_to_column_name(logicalrelid, partkey) from pg_dist_partition"
        ~ " where partmethod = 'h' and logicalrelid = to_regclass('" ~ source ~ "')"
    ) -%}
    {%- if found.rows | length == 0 -%}{{ return(false) }}{%- endif -%}
    {%- if found.rows[0][0] != log_source().columns.id -%}
        {{ exceptions.raise_compiler_error(
            source ~ " is distributed by " ~ found.rows[0][0] ~ ": the scoring needs it distributed"
            ~ " by " ~ log_source().columns.id ~ ", its log id (docs/internals/scale.md)"
        ) }}
    {%- endif -%}
    {{ return(true) }}
{% endmacro %}

{#- The log source relation (models/staging/logs/_logs__sources.yml), from the graph: source()
    is only resolved in nodes that declare it. -#}
{% macro citus_log_source() %}
    {%- set node = graph.sources.values() | selectattr('source_name', 'equalto', 'logs')
        | selectattr('name', 'equalto', 'log_entries') | first -%}
    {{ return(api.Relation.create(database=node.database, schema=node.schema, identifier=node.identifier)) }}
{% endmacro %}

{#- The distribution column of the model being built, or none (not distributed). -#}
{% macro citus_distribution_column() %}
    {%- set column = (config.get('meta') or {}).get('citus_distribution_column') -%}
    {{ return(column if column and citus_enabled() else none) }}
{% endmacro %}

{#- Overrides dbt-postgres' postgres__create_table_as (the root project wins the dispatch). -#}
{% macro postgres__create_table_as(temporary, relation, sql) -%}
    {%- set column = citus_distribution_column() -%}
    {%- if column is none -%}
        {{ dbt.postgres__create_table_as(temporary, relation, sql) }}
    {%- elif temporary -%}
        create temporary table {{ relation }} as (
            {{ sql }}
        ) with no data;
    {%- else -%}
        {%- if config.get('contract').enforced -%}
        {{ get_assert_columns_equivalent(sql) }}
        create table {{ relation }} {{ get_table_columns_and_constraints() }};
        {%- else -%}
        create table {{ relation }} as (
            {{ sql }}
        ) with no data;
        {%- endif %}
        select create_distributed_table(
            '{{ relation }}', '{{ column }}', colocate_with => '{{ citus_log_source() }}'
        );
        {{ citus_insert_select(relation, sql) }};
    {%- endif -%}
{%- endmacro %}

{#- The append strategy of a distributed model: from the model's SQL, not from the temp table. -#}
{% macro get_incremental_append_sql(arg_dict) %}
    {%- if citus_distribution_column() is none -%}
        {{ return(adapter.dispatch('get_incremental_append_sql', 'dbt')(arg_dict)) }}
    {%- endif -%}
    {{ return(citus_insert_select(arg_dict['target_relation'], sql)) }}
{% endmacro %}

{#- One INSERT ... SELECT, which Citus pushes down when the SELECT is row-local on co-located
    tables (`sql` is the model's compiled SQL). -#}
{% macro citus_insert_select(target, sql) -%}
    {%- set columns = adapter.dispatch('get_column_names', 'dbt')() if config.get('contract').enforced
        else '*' -%}
    insert into {{ target }} {{ '(' ~ columns ~ ')' if columns != '*' }}
    select {{ columns }} from (
        {{ sql }}
    ) as citus_new_rows
{%- endmacro %}

{#-
  Model pre-hook, the first one: the SET LOCALs that follow (work_mem, the scoring bounds)
  reach the workers' connections of the transaction too (Citus' default sends them nowhere).
-#}
{% macro citus_propagate_set_local() %}
    {{ 'set local citus.propagate_set_commands = local' if citus_enabled() else '' }}
{% endmacro %}

{#-
  Pre-hook of every model that writes a reference table (seeds, the detector's history): its
  writes would run locally on the coordinator's copy, and Citus then refuses the post-hook's
  analyze (it goes to every copy in the same transaction); and two reference tables re-created
  at once (dbt threads) deadlock between dropping one and creating another: one at a time.
  Sequential mode: a transaction that reads a distributed table over several connections per
  worker (ml_predictions, for the history) can no longer write or create a reference table.
-#}
{% macro citus_reference_table_pre_hook() %}
    {%- if citus_enabled() -%}
    set local citus.enable_local_execution = off;
    set local citus.multi_shard_modify_mode = 'sequential';
    select pg_advisory_xact_lock(hashtext('logml.citus_ddl'))
    {%- endif -%}
{% endmacro %}

{#- Post-hook of seeds and the detector's history tables: a reference table (a copy on every
    node), which the scoring statement joins inside each shard's task. -#}
{% macro citus_reference_table(relation) %}
    {%- if citus_enabled() -%}
    select create_reference_table('{{ relation }}')
    where not exists (select from pg_dist_partition where logicalrelid = '{{ relation }}'::regclass)
    {%- endif -%}
{% endmacro %}

{#-
  Incremental strategy 'upsert' (the detector's history tables): the model's rows replace the
  stored rows with the same unique_key, as delete+insert would, in one INSERT ... ON CONFLICT
  from dbt's temp table. On Citus the target is a reference table, and a DELETE joined with a
  coordinator temp table is refused ("is not distributed"); an INSERT ... SELECT from it is
  not. Needs the unique index on unique_key (the models' post-hooks create it).
-#}
{% macro get_incremental_upsert_sql(arg_dict) %}
    {%- set keys = arg_dict['unique_key'] -%}
    {%- set columns = arg_dict['dest_columns'] | map(attribute='name') | list -%}
    insert into {{ arg_dict['target_relation'] }} ({{ columns | join(', ') }})
    select {{ columns | join(', ') }} from {{ arg_dict['temp_relation'] }}
    on conflict ({{ keys | join(', ') }}) do update set
    {%- for column in columns if column not in keys %}
        {{ column }} = excluded.{{ column }}{{ ',' if not loop.last }}
    {%- endfor %}
{% endmacro %}
