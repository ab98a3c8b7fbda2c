{#
  One rule for level names, whatever the source column's type (an ENUM, text, a number):
  case and surrounding spaces are ignored; the source's own names (`own`: name -> level, var
  log_source.levels) come first, then the project's synonyms (`names`: level -> its names, var
  level_names); anything else is NULL ("unknown"), which staging keeps (the line is still
  scored) and `make check-source` counts. Pure, so that Python renders the same SQL
  (dbt_project/source_check.py) and the loaders map names with the same two lists
  (ingest/levels.py).
#}
{% macro normalize_level(expression, names, own={}) %}
  {#- searched CASE (case when ...), not simple CASE (case x when ...): Citus folds the WHEN
      test of a simple CASE to NULL when it evaluates a statement on the coordinator -#}
  case
  {%- for name, level in own.items() %}
    when upper(trim({{ expression }})) = '{{ name | upper | replace("'", "''") }}'
      then '{{ level | upper }}'
  {%- endfor %}
  {%- for level, synonyms in names.items() %}
    when upper(trim({{ expression }})) in (
      {%- for name in synonyms -%}
        '{{ name | upper | replace("'", "''") }}'{{ ', ' if not loop.last }}
      {%- endfor -%}
    ) then '{{ level }}'
  {%- endfor %}
  end
{% endmacro %}
