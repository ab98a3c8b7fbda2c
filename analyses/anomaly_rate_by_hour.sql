{#-
  Anomaly rate by hour over the last 7 days of logs the active version scored, all services
  together: lines, anomalies and the rate in percent. Spikes point at incidents.
-#}
with

hourly as (

    select * from {{ ref('ml_stats_hourly') }}
    where model_version = '{{ ml_active_version().version }}'

),

by_hour as (

    select
        hourly.hour,
        sum(hourly.predictions) as lines,
        sum(hourly.anomalies) as anomalies,
        sum(hourly.anomaly_score_sum) / nullif(sum(hourly.predictions), 0) as mean_anomaly_score
    from hourly
    where hourly.hour >= (select max(newest.hour) from hourly as newest) - interval '7 days'
    group by hourly.hour

),

final as (

    select
        hour,
        lines,
        anomalies,
        round(100.0 * anomalies / nullif(lines, 0), 2) as anomaly_rate_pct,
        mean_anomaly_score
    from by_hour
    order by hour

)

select * from final
