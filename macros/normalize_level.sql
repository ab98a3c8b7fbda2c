{#
  One rule for level names, whatever the source column's type (the old ENUM, or text):
  case and spaces are ignored; synonyms map to the five canonical levels; anything else is
  NULL ("unknown"), which staging keeps (the line is still scored) and counts.
#}
{% macro normalize_level(expression) %}
  case upper(trim({{ expression }}))
    when 'DEBUG' then 'DEBUG'
    when 'TRACE' then 'DEBUG'
    when 'VERBOSE' then 'DEBUG'
    when 'FINE' then 'DEBUG'
    when 'INFO' then 'INFO'
    when 'INFORMATION' then 'INFO'
    when 'NOTICE' then 'INFO'
    when 'WARN' then 'WARN'
    when 'WARNING' then 'WARN'
    when 'ERROR' then 'ERROR'
    when 'ERR' then 'ERROR'
    when 'SEVERE' then 'ERROR'
    when 'FATAL' then 'FATAL'
    when 'CRITICAL' then 'FATAL'
    when 'CRIT' then 'FATAL'
    when 'ALERT' then 'FATAL'
    when 'EMERG' then 'FATAL'
    when 'PANIC' then 'FATAL'
  end
{% endmacro %}
