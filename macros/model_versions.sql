{#
  Which model versions score: the roles in ml.ml_model_registry (python -m model_export
  export / activate / rollback / promote / challenger change them; nothing here retrains).
  Read when a model runs, so the next run after a role change scores with the new roles.
  While dbt parses (execute is false) the registry is not read: the newest compiled version
  stands in, so every ref the compiled SQL makes names a real seed.
#}
{% macro ml_registry_roles() %}
    {%- set compiled = ml_compiled_versions() -%}
    {%- if not execute -%}
        {{ return({'active': compiled[-1] if compiled else none, 'challenger': none}) }}
    {%- endif -%}
    {%- set registry = source('model_registry', 'ml_model_registry') -%}
    {%- if adapter.get_relation(registry.database, registry.schema, registry.identifier) is none -%}
        {{ exceptions.raise_compiler_error(
            "no model registry (" ~ registry ~ "): train and export a model first: make export-model"
        ) }}
    {%- endif -%}
    {%- set found = run_query(
        "select max(model_version) filter (where is_active),"
        ~ " max(model_version) filter (where is_challenger) from " ~ registry
    ) -%}
    {%- set active, challenger = found.rows[0][0], found.rows[0][1] -%}
    {%- if active is none -%}
        {{ exceptions.raise_compiler_error(
            "no active model version in " ~ registry ~ ": make export-model, or make activate VERSION=vN"
        ) }}
    {%- endif -%}
    {%- if active not in compiled -%}
        {{ exceptions.raise_compiler_error(
            "model version " ~ active ~ " is active in " ~ registry ~ " but its compiled SQL is not in"
            ~ " macros/generated/ (compiled here: " ~ compiled | join(', ') ~ "). Merge its generated"
            ~ " files, or make activate VERSION=<one of those>"
        ) }}
    {%- endif -%}
    {%- if challenger is not none and challenger not in compiled -%}
        {#- shadow scoring must never stop production scoring: skip it, say so -#}
        {{ log("challenger " ~ challenger ~ " has no compiled SQL in macros/generated/: not scored", info=true) }}
        {%- set challenger = none -%}
    {%- endif -%}
    {{ return({'active': active, 'challenger': challenger}) }}
{% endmacro %}

{#-
  The active version as a SQL literal, e.g. 'v2': what the API serves and stats report
  (null only while dbt parses a project that has no compiled version yet).
-#}
{% macro ml_model_version() %}
    {%- set active = ml_registry_roles()['active'] -%}
    {{- "'" ~ active ~ "'" if active is not none else "null" -}}
{% endmacro %}

{#- The challenger as a SQL literal, or an empty string when there is none. -#}
{% macro ml_challenger_version() %}
    {%- set challenger = ml_registry_roles()['challenger'] -%}
    {{- "'" ~ challenger ~ "'" if challenger is not none else "" -}}
{% endmacro %}

{#- The versions that score, as SQL literals: the active one first, then the challenger. -#}
{% macro ml_scoring_versions() %}
    {%- set versions = [ml_model_version()] -%}
    {%- set challenger = ml_challenger_version() -%}
    {%- if challenger -%}{%- do versions.append(challenger) -%}{%- endif -%}
    {{ return(versions) }}
{% endmacro %}
