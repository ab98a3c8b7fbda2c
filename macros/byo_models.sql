{#
  A bring-your-own model's output table: a dbt model of the user's (the pattern and its example:
  docs/bring-your-own-model.md) scores new logs with the model's versions through these two
  macros, the way ml_predictions scores them with the default pair's.

  ml_byo_scoring_versions(name) returns the versions of the model `name` that score, the
  active one first, then the challenger once the table exists (a version that has scored
  nothing starts where the table ends, as in ml_predictions):
      {'role': 'active' or 'challenger', 'version': 'owning_team_v2',
       'scorer': the macro ml_byo_owning_team_v2, called as scorer(batch)}
  The compiled versions come from macros/generated/ml_versions.sql (ml_byo_compiled_versions,
  written by model_export), the roles from the registry (ml_model_roles_sql with the model's
  name; make activate / challenger / promote / rollback NAME=... change them), read when the
  model runs. While dbt parses, every compiled version is listed, so that dbt records the
  seeds each one refs (dbt seed loads them before the model runs).
#}
{% macro ml_byo_scoring_versions(name) %}
    {%- set compiled = ml_byo_compiled_versions().get(name, []) -%}
    {#- parsing a project that has the model file before the model's first export: not an error -#}
    {%- if not compiled and not execute -%}
        {{ return([]) }}
    {%- elif not compiled -%}
        {{ exceptions.raise_compiler_error(
            "no compiled version of the model '" ~ name ~ "' in macros/generated/byo/"
            ~ " (compiled: " ~ ml_byo_compiled_versions().keys() | sort | join(', ')
            ~ "): make export-model FILE=<saved Pipeline> NAME=" ~ name
        ) }}
    {%- endif -%}
    {%- if not execute -%}
        {%- set listed = [] -%}
        {%- for entry in compiled | reverse -%}
            {%- do listed.append(ml_byo_entry('active' if loop.first else 'compiled', entry)) -%}
        {%- endfor -%}
        {{ return(listed) }}
    {%- endif -%}
    {%- set by_version = {} -%}
    {%- for entry in compiled -%}
        {%- do by_version.update({entry.version: entry}) -%}
    {%- endfor -%}
    {%- set registry = source('registry', 'ml_model_registry') -%}
    {%- set found = run_query(ml_model_roles_sql(registry, name)) -%}
    {%- set active, challenger = found.rows[0][0], found.rows[0][1] -%}
    {%- if active is none or active not in by_version -%}
        {{ exceptions.raise_compiler_error(
            "the model '" ~ name ~ "' has no active version compiled in macros/generated/byo/"
            ~ " (active in " ~ registry ~ ": " ~ (active or 'none') ~ "; compiled: "
            ~ by_version.keys() | sort | join(', ') ~ "): make export-model FILE=... NAME="
            ~ name ~ ", or make activate VERSION=<one of those>"
        ) }}
    {%- endif -%}
    {%- set scoring = [ml_byo_entry('active', by_version[active])] -%}
    {%- if challenger is not none and challenger in by_version and is_incremental() -%}
        {%- do scoring.append(ml_byo_entry('challenger', by_version[challenger])) -%}
    {%- endif -%}
    {{ return(scoring) }}
{% endmacro %}

{% macro ml_byo_entry(role, compiled) %}
    {{ return({'role': role, 'version': compiled.version, 'scorer': compiled.scorer}) }}
{% endmacro %}

{#-
  The rows of `logs` (a relation with log_entry_id, such as ref('stg_log_entries')) that the
  version `scoring` has not scored into this model's table yet, as a subquery to pass as the
  scorer's batch. The bound is ml_predictions' (macros/scoring_bounds.sql): above the
  version's watermark, re-checking var late_id_window ids below it for ids committed out of
  order; var rescore_from reaches further back for the active version.
-#}
{% macro ml_byo_new_logs(scoring, logs) -%}
(
    select new_logs.*
    from {{ logs }} as new_logs
    {%- if is_incremental() %}
    where
        new_logs.log_entry_id > ({{ ml_scoring_lower_id_query(scoring) }})
        and not exists (
            select 1
            from {{ this }} as scored
            where
                scored.model_version = '{{ scoring.version }}'
                and scored.log_entry_id = new_logs.log_entry_id
        )
    {%- endif %}
)
{%- endmacro %}
