{#-
  What the status row says, for every registered model version as of the last run: its
  prediction counts (from the hourly stats, so this stays cheap however large ml_predictions
  grows), and the run's own facts, the same on every row (the newest log, when the run
  started, when the next one is due). The ml_status view shows the row of the version that is
  active now, so a role change (make promote) shows in the status at once.
  Incremental only to be updated in place: each run replaces every row (delete+insert by
  version), so the ml_status view that reads this table is not dropped with it, as it would
  be if dbt swapped in a new table.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='model_version',
        pre_hook=["{{ add_column_if_missing(this, 'log_source', 'text', 'null') }}"],
    )
}}

with

versions as (

    select * from {{ ref('int_model_versions_rolled_up') }}

),

hourly as (

    select * from {{ ref('ml_stats_hourly') }}

),

logs as (

    select * from {{ ref('stg_log_entries') }}

),

counts as (

    select
        model_version,
        max(last_predicted_at) as latest_prediction_at,
        sum(predictions)::bigint as total_predictions,
        sum(anomalies)::bigint as anomaly_count,
        coalesce(sum(predictions) filter (where severity in {{ high_severities() }}), 0)::bigint
            as high_severity_count
    from hourly
    group by model_version

),

final as (

    select
        versions.model_version,
        counts.latest_prediction_at,
        (select max(logs.logged_at) from logs) as latest_log_at,
        coalesce(counts.total_predictions, 0)::bigint as total_predictions,
        coalesce(counts.anomaly_count, 0)::bigint as anomaly_count,
        coalesce(counts.high_severity_count, 0)::bigint as high_severity_count,
        exists(select 1 from logs) as logs_available,
        '{{ run_started_at }}'::timestamptz as last_run_at,
        '{{ run_started_at }}'::timestamptz
        + interval '{{ var("schedule_interval_hours") }} hours' as next_run_due_at,
        versions.log_source
    from versions
    left join counts on versions.model_version = counts.model_version

)

select * from final
