{#
  One rule for level names, whatever the source column's type (the old ENUM, or text):
  case and spaces are ignored; synonyms map to the five canonical levels; anything else is
  NULL ("unknown"), which staging keeps (the line is still scored) and counts.
#}
{% macro normalize_level(expression) %}
  {#- searched CASE (case when ...), not simple CASE (case x when ...): Citus folds the WHEN
      test of a simple CASE to NULL when it evaluates a statement on the coordinator -#}
  case
    when upper(trim({{ expression }})) in ('DEBUG', 'TRACE', 'VERBOSE', 'FINE') then 'DEBUG'
    when upper(trim({{ expression }})) in ('INFO', 'INFORMATION', 'NOTICE') then 'INFO'
    when upper(trim({{ expression }})) in ('WARN', 'WARNING') then 'WARN'
    when upper(trim({{ expression }})) in ('ERROR', 'ERR', 'SEVERE') then 'ERROR'
    when upper(trim({{ expression }})) in ('FATAL', 'CRITICAL', 'CRIT', 'ALERT', 'EMERG', 'PANIC')
      then 'FATAL'
  end
{% endmacro %}
