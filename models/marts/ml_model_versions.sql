{#-
  One row per registered model version for the API: its role, training window and held-out
  metrics (from ml_model_registry, one row per version and model) and the last deployment
  action about it (from the append-only ml_model_deployments). A view: the registry is a
  handful of rows that model_export changes between dbt runs, so the roles shown are the
  registry's as of now (after `make promote` the new active version shows at once; dbt
  scores with it from the next run on).
-#}
{{ config(materialized='view') }}

with

registry as (

    select * from {{ source('model_registry', 'ml_model_registry') }}

),

deployments as (

    select * from {{ source('model_registry', 'ml_model_deployments') }}

),

versions as (

    select
        model_version,
        bool_or(is_active) as is_active,
        bool_or(is_challenger) as is_challenger,
        min(trained_at) as trained_at,
        min(window_start) as window_start,
        max(window_end) as window_end,
        max(training_rows) as training_rows,
        max(sklearn_version) as sklearn_version,
        (array_agg(metrics) filter (where model_name = 'level_classifier'))[1] as level_metrics,
        (array_agg(metrics) filter (where model_name = 'anomaly_detector'))[1]
            as anomaly_metrics
    from registry
    group by model_version

),

last_deployments as (

    select distinct on (model_version)
        model_version,
        action,
        deployed_at
    from deployments
    where model_version is not null
    order by model_version asc, deployed_at desc

),

final as (

    select
        versions.model_version,
        case
            when versions.is_active then 'active'
            when versions.is_challenger then 'challenger'
            else 'retired'
        end as role,
        versions.trained_at,
        versions.window_start,
        versions.window_end,
        versions.training_rows,
        versions.sklearn_version,
        versions.level_metrics,
        versions.anomaly_metrics,
        last_deployments.action as last_action,
        last_deployments.deployed_at as last_action_at
    from versions
    left join last_deployments on versions.model_version = last_deployments.model_version

)

select * from final
