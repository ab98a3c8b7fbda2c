{#-
  The newest `column` that earlier runs of this incremental model stored (one index lookup
  where the column is indexed): a run reads only what came after it. On a full build, or the
  first one, -infinity: everything.
-#}
{% macro incremental_watermark(column) -%}
{%- if is_incremental() -%}
(select coalesce(max(stored.{{ column }}), '-infinity'::timestamptz) from {{ this }} as stored)
{%- else -%}
'-infinity'::timestamptz
{%- endif -%}
{%- endmacro %}

{#-
  The rows earlier runs of this incremental model stored, for a model that reads its own table
  (to add to its counts, or to extend what it judged before): {{ this }}, or on a full build or
  the first one no rows, with the columns and types of the model's contract (the table may
  not exist yet).
-#}
{% macro incremental_stored() -%}
{#- while dbt parses, the contract is not attached to the model yet -#}
{%- if is_incremental() or not execute -%}
select * from {{ this }}
{%- else -%}
{%- set columns = model.columns.values() | list -%}
{%- if not columns or columns | selectattr('data_type', 'none') | list -%}
{{ exceptions.raise_compiler_error(
    "incremental_stored() in " ~ model.name ~ " needs every column's data_type: declare them in"
    ~ " the model's contract (its _*__models.yml)"
) }}
{%- endif -%}
select
{%- for column in columns %}
    null::{{ column.data_type }} as {{ column.name }}{{ ',' if not loop.last }}
{%- endfor %}
where false
{%- endif -%}
{%- endmacro %}

{#-
  For the hourly models (delete+insert on hour and model_version): the rows of `predictions`
  (ml_predictions, or a CTE over it) in every (model version, hour) slice that received
  predictions since the newest predicted_at this model counted (its last_predicted_at),
  including old hours that late-arriving logs fell into, read in full so that the slice's row
  is recounted, one range of the (model_version, logged_at) index each. `more_slices`: a query
  of further (model_version, hour) slices to recount. On a full build, or the first one, every
  row.
  The ranges are read per slice (a LATERAL subquery that OFFSET 0 keeps from being merged into
  a join): the planner cannot know how few slices the watermark leaves and, joining, read the
  whole table (ml_response_times_hourly after 1,000 new lines on 200,000: 1.2 s; by slice,
  with its lookups by primary key, 0.05 s). Pass a CTE over ml_predictions, not the relation:
  Citus refuses an OFFSET in a LATERAL subquery over a distributed table itself.
-#}
{% macro predictions_of_changed_hours(predictions, more_slices=none) -%}
{%- if is_incremental() -%}
select slice_rows.*
from (
    select distinct
        {{ predictions }}.model_version,
        date_trunc('hour', {{ predictions }}.logged_at) as hour
    from {{ predictions }}
    where {{ predictions }}.predicted_at > {{ incremental_watermark('last_predicted_at') }}
{%- if more_slices %}
    union
    {{ more_slices }}
    {%- endif %}
) as changed_slices
cross join lateral (
    select {{ predictions }}.*
    from {{ predictions }}
    where
        {{ predictions }}.model_version = changed_slices.model_version
        and {{ predictions }}.logged_at >= changed_slices.hour
        and {{ predictions }}.logged_at < changed_slices.hour + interval '1 hour'
    offset 0
) as slice_rows
{%- else -%}
select * from {{ predictions }}
{%- endif -%}
{%- endmacro %}

{#-
  Post-hook of the marts: the NOT NULL constraints an incremental model's contract declares, on
  a table created without them. dbt applies a contract's constraints only when it creates the
  table, so an incremental table that an earlier release created keeps its columns nullable
  until this sets them, once: PostgreSQL then checks the stored rows (a NULL fails the run and
  names the column). A table that has them all costs one catalog lookup. Constraints, not
  not_null data tests: a NULL is refused as it is written, and a build runs no query per column.
-#}
{% macro add_missing_not_null(relation) -%}
{%- set declared = [] -%}
{%- if execute and model.config.materialized == 'incremental' -%}
{%- for column in model.columns.values()
    if column.constraints | selectattr('type', 'equalto', 'not_null') | list -%}
{%- do declared.append("'" ~ column.name ~ "'") -%}
{%- endfor -%}
{%- endif -%}
{%- if declared -%}
do $$
declare
    nullable text;
begin
    select string_agg(format('alter column %I set not null', attname), ', ')
    into nullable
    from pg_attribute
    where
        attrelid = '{{ relation.include(database=false) }}'::regclass
        and attname in ({{ declared | join(', ') }})
        and not attnotnull;
    if nullable is not null then
        execute 'alter table {{ relation.include(database=false) }} ' || nullable;
    end if;
end $$
{%- endif -%}
{%- endmacro %}
