{#-
  The roles of the model versions as the registry `registry` holds them: one row, the active
  version (dbt scores with it, the API serves it) and the challenger (scores in shadow), each
  NULL when there is none. The one definition of that query: dbt runs it when a model scores
  (ml_scoring_versions), the ml_status view reads it live, and model_export renders this file
  with plain Jinja to run the same SQL (model_export.lifecycle.versions.roles_query), so
  nothing here may need dbt's context.
-#}
{% macro ml_model_roles_sql(registry) -%}
select
    max(model_version) filter (where is_active) as active_version,
    max(model_version) filter (where is_challenger) as challenger_version
from {{ registry }}
{%- endmacro %}
