{#-
  Helpers of ml_alerts. The alert kinds are var alert_kinds (dbt_project.yml): the one list
  that ml_alerts, its accepted_values test, the API, the notifier and the dashboard read.
-#}

{#- A kind as a SQL string; fails to compile when var alert_kinds lacks it or lists it as
    retired, so no rule raises a kind its readers do not know. -#}
{% macro alert_kind(name) -%}
{%- if name not in var('alert_kinds') -%}
{{ exceptions.raise_compiler_error(
    "alert kind '" ~ name ~ "' is not in var alert_kinds: add it, with its title, observed"
    ~ " and description, to dbt_project.yml"
) }}
{%- elif var('alert_kinds')[name].get('retired') -%}
{{ exceptions.raise_compiler_error(
    "alert kind '" ~ name ~ "' is retired in var alert_kinds (dbt_project.yml): no rule may"
    ~ " raise it; drop `retired` there to raise it again"
) }}
{%- endif -%}
'{{ name }}'
{%- endmacro %}

{#- The title of the kind in the SQL expression `kind`. -#}
{% macro alert_title(kind) -%}
case {{ kind }}
{%- for name in var('alert_kinds') %}
    when '{{ name }}' then '{{ var('alert_kinds')[name].title | replace("'", "''") }}'
{%- endfor %}
end
{%- endmacro %}
