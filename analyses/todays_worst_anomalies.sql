{#-
  Today's worst anomalies: the 50 most anomalous lines logged since midnight (the session's
  time zone) according to the active model version, with the reason it gives.
  Run: python -m dbt_project dbt compile -s todays_worst_anomalies, then the SQL in
  target/compiled/logml/analyses/todays_worst_anomalies.sql with psql.
-#}
with

predictions as (

    select * from {{ ref('ml_predictions') }}
    where
        model_version = '{{ ml_active_version().version }}'
        and logged_at >= date_trunc('day', now())

),

final as (

    select
        logged_at,
        service,
        host,
        severity,
        anomaly_score,
        logged_level,
        predicted_level,
        explanation,
        message,
        log_entry_id
    from predictions
    where is_anomaly
    order by anomaly_score desc, log_entry_id asc
    limit 50

)

select * from final
