{#-
  The one status row the API's `status` action and the dashboard header read. Counts are for
  the active model version (ml_active_version(), macros/model_versions.sql) and come from the
  hourly stats, so this stays cheap however large ml_predictions grows.
-#}
{%- set active = ml_active_version() -%}

with

hourly as (

    select * from {{ ref('ml_stats_hourly') }}
    where model_version = '{{ active.version }}'

),

logs as (

    select * from {{ ref('stg_log_entries') }}

),

active_counts as (

    select
        max(last_predicted_at) as latest_prediction_at,
        coalesce(sum(predictions), 0)::bigint as total_predictions,
        coalesce(sum(anomalies), 0)::bigint as anomaly_count,
        coalesce(sum(predictions) filter (where severity in {{ high_severities() }}), 0)::bigint
            as high_severity_count
    from hourly

),

final as (

    select
        '{{ active.version }}'::text as active_model_version,
        active_counts.latest_prediction_at,
        (select max(logs.logged_at) from logs) as latest_log_at,
        active_counts.total_predictions,
        active_counts.anomaly_count,
        active_counts.high_severity_count,
        exists(select 1 from logs) as logs_available,
        active_counts.total_predictions > 0 as predictions_available,
        '{{ run_started_at }}'::timestamptz as last_run_at,
        '{{ run_started_at }}'::timestamptz
        + interval '{{ var("schedule_interval_hours") }} hours' as next_run_due_at
    from active_counts

)

select * from final
