{#-
  The features ml_drift compares: every column of int_log_features but the key, read from
  the database so the list follows the compiler's log_features macro without a copy here.
-#}
{% macro drift_feature_columns() %}
{%- set names = [] -%}
{%- if execute -%}
{%- for column in adapter.get_columns_in_relation(ref('int_log_features')) -%}
{%- if column.name != 'log_entry_id' -%}{%- do names.append(column.name) -%}{%- endif -%}
{%- endfor -%}
{%- endif -%}
{{ return(names) }}
{% endmacro %}
