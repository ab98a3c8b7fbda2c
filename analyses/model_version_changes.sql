{#-
  What the active model version changed against the previous one (the registry's version
  trained before it, or --vars '{compare_to: v2}'): on the logs both versions scored, how
  many lines moved from one (level, anomaly) answer to another. A new version only scores new
  logs, so the overlap is empty until it re-scores old ones with
  --vars '{rescore_from: <timestamp>}' (see ml_predictions). Held-out metrics of both
  versions are in the registry (ml_model_registry.metrics).
-#}
{%- set active_version = ml_active_version().version -%}
{%- set compare_to = var('compare_to', none) -%}
{%- set compared = "model_version = '" ~ compare_to ~ "'" if compare_to
    else "model_version <> '" ~ active_version ~ "'" -%}

with

registered as (

    select * from {{ ref('int_model_versions_rolled_up') }}

),

predictions as (

    select * from {{ ref('ml_predictions') }}

),

previous_version as (

    select model_version
    from registered
    where {{ compared }}
    order by trained_at desc
    limit 1

),

active as (

    select * from predictions
    where model_version = '{{ active_version }}'

),

previous as (

    select predictions.*
    from predictions
    inner join previous_version on predictions.model_version = previous_version.model_version

),

final as (

    select
        previous.model_version as previous_version,
        active.model_version as active_version,
        previous.predicted_level as previous_level,
        active.predicted_level as active_level,
        previous.is_anomaly as previously_anomalous,
        active.is_anomaly as now_anomalous,
        count(*) as lines,
        avg(active.anomaly_score - previous.anomaly_score) as mean_score_change
    from active
    inner join previous on active.log_entry_id = previous.log_entry_id
    group by 1, 2, 3, 4, 5, 6
    order by lines desc

)

select * from final
