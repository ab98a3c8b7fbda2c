{#-
  The roles of the model versions as the registry `registry` holds them: one row, the active
  version and the challenger, each NULL when there is none. With `byo` none, the default
  pair's versions (v1, v2, ...: dbt scores ml_predictions with the active one, the API serves
  it); with `byo` the name of a bring-your-own model, that model's versions (its output table
  scores with them). The one definition of that query: dbt runs it when a model scores
  (ml_scoring_versions, ml_byo_scoring_versions), the ml_status view reads it live, and
  model_export renders this file with plain Jinja to run the same SQL
  (model_export.lifecycle.versions.roles_query), so nothing here may need dbt's context.
-#}
{% macro ml_model_roles_sql(registry, byo=none) -%}
select
    max(model_version) filter (where is_active) as active_version,
    max(model_version) filter (where is_challenger) as challenger_version
from {{ registry }}
{% if byo is none -%}
where model_kind = 'default'
{%- else -%}
where model_kind = 'byo' and model_name = '{{ byo }}'
{%- endif %}
{%- endmacro %}
