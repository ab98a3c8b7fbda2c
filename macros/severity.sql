{#
  The one severity rule (unchanged from the old system; README, ml_predictions docs), applied to a prediction:
  an anomaly is 'high' whatever its level; otherwise a predicted ERROR or FATAL is 'medium',
  a predicted WARN 'low', and everything else (DEBUG, INFO) 'info'.
  A NULL is_anomaly counts as not anomalous, so every row gets a severity.
#}
{% macro severity(is_anomaly, predicted_level) %}
    case
        when coalesce({{ is_anomaly }}, false) then 'high'
        when {{ predicted_level }} in ('ERROR', 'FATAL') then 'medium'
        when {{ predicted_level }} = 'WARN' then 'low'
        else 'info'
    end
{% endmacro %}
