{#-
  The one status row the API's `status` action and the dashboard header read: the model
  version active now, as the registry says (ml_model_roles_sql, the query dbt scores by), with
  its counts as of the last run (ml_status_by_version). A view, so that after `make promote`
  the status names the new active version at once, as ml_model_versions does, with the counts
  the last run made for it (as the challenger it was scored too); a version that no run has
  counted yet has zero predictions here.
-#}
{{ config(materialized='view') }}

with

roles as (

    {{ ml_model_roles_sql(ref('stg_registry__trained_models')) }}

),

by_version as (

    select * from {{ ref('ml_status_by_version') }}

),

-- the run's own facts: the same on every row of ml_status_by_version
last_run as (

    select
        max(latest_log_at) as latest_log_at,
        bool_or(logs_available) as logs_available,
        max(last_run_at) as last_run_at,
        max(next_run_due_at) as next_run_due_at
    from by_version

),

final as (

    select
        roles.active_version as active_model_version,
        active_counts.latest_prediction_at,
        last_run.latest_log_at,
        coalesce(active_counts.total_predictions, 0)::bigint as total_predictions,
        coalesce(active_counts.anomaly_count, 0)::bigint as anomaly_count,
        coalesce(active_counts.high_severity_count, 0)::bigint as high_severity_count,
        last_run.logs_available,
        coalesce(active_counts.total_predictions, 0) > 0 as predictions_available,
        last_run.last_run_at,
        last_run.next_run_due_at,
        active_counts.log_source
    from roles
    cross join last_run
    left join by_version as active_counts
        on roles.active_version = active_counts.model_version
    where roles.active_version is not null

)

select * from final
