{#
  The short "why" of a prediction: the level classifier's reason for its level, and the
  anomaly detector's reason when it flagged the line. Either part may be empty.
#}
{% macro explanation(levels, anomalies) %}
    nullif(concat_ws(
        '; ',
        'level ' || {{ levels }}.predicted_level
        || coalesce(': ' || nullif({{ levels }}.level_explanation, ''), ''),
        case
            when {{ anomalies }}.is_anomaly
                then 'anomaly: ' || coalesce(nullif({{ anomalies }}.anomaly_explanation, ''), 'unusual line')
        end
    ), '')
{% endmacro %}
