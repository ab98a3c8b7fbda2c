{#
  The source table is the user's: only id, timestamp, level and message are required.
  `source_column` emits the column cast to a type when the table has it, and a typed NULL
  when it does not, so staging compiles against any subset of the optional columns.
#}
{% macro source_column_names(relation) %}
  {%- set names = [] -%}
  {%- if execute -%}
    {%- for column in adapter.get_columns_in_relation(relation) -%}
      {%- do names.append(column.name | lower) -%}
    {%- endfor -%}
  {%- endif -%}
  {{ return(names) }}
{% endmacro %}

{% macro source_column(present_columns, name, sql_type) %}
  {%- if name in present_columns -%}
    {{ adapter.quote(name) }}::{{ sql_type }}
  {%- else -%}
    null::{{ sql_type }}
  {%- endif -%}
{% endmacro %}
