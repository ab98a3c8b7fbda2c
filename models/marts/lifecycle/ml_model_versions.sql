{#-
  One row per registered model version for the API: its role, training window and held-out
  metrics (int_model_versions_rolled_up) and the last deployment action about it (the
  append-only deployment history). A view over views: the registry is a handful of rows that
  model_export changes between dbt runs, so the roles shown are the registry's as of now
  (after `make promote` the new active version shows at once; dbt scores with it from the
  next run on).
-#}
{{ config(materialized='view') }}

with

versions as (

    select * from {{ ref('int_model_versions_rolled_up') }}

),

deployments as (

    select * from {{ ref('stg_registry__deployments') }}

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
        last_deployments.deployed_at as last_action_at,
        versions.log_source
    from versions
    left join last_deployments on versions.model_version = last_deployments.model_version

)

select * from final
