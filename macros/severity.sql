{#
  The one severity rule (docs/concepts/severity.md, ml_predictions docs), applied to a prediction. The old system's rule, with the `critical`
  its schema already listed (low, medium, high, critical) but never produced:
  - critical: an anomaly that the level classifier also reads as FATAL. Two independent
    models agree the line is both unusual and fatal: the lines worth waking someone for.
    (On the 200,000 demo logs: 191 lines, each of them logged FATAL too.)
  - high: any other anomaly, whatever its level;
  - medium: a predicted ERROR or FATAL that is not an anomaly;
  - low: a predicted WARN; info: everything else (DEBUG, INFO).
  A NULL is_anomaly counts as not anomalous, so every row gets a severity. Rows scored before
  `critical` existed keep the severity they were given (docs/concepts/severity.md).
#}
{% macro severity(is_anomaly, predicted_level) %}
    case
        when coalesce({{ is_anomaly }}, false) and {{ predicted_level }} = 'FATAL' then 'critical'
        when coalesce({{ is_anomaly }}, false) then 'high'
        when {{ predicted_level }} in ('ERROR', 'FATAL') then 'medium'
        when {{ predicted_level }} = 'WARN' then 'low'
        else 'info'
    end
{% endmacro %}

{#- Every severity the rule gives, worst first (var severities; the stats windows have a row
    for each). -#}
{% macro severity_array() %}array['{{ var('severities') | join("', '") }}']{% endmacro %}

{#- The severities an alert counts as "high severity" (var high_severities): every anomaly. -#}
{% macro high_severities() %}('{{ var('high_severities') | join("', '") }}'){% endmacro %}
