{#-
  The incremental hourly stats add up to the predictions they summarise: per model version,
  the same number of predictions, anomalies and level disagreements. Returns the versions
  that differ.
-#}
with

predictions as (

    select
        model_version,
        count(*) as predictions,
        count(*) filter (where is_anomaly) as anomalies,
        count(*) filter (where level_disagrees) as level_disagreements
    from {{ ref('ml_predictions') }}
    group by model_version

),

hourly as (

    select
        model_version,
        sum(predictions) as predictions,
        sum(anomalies) as anomalies,
        sum(level_disagreements) as level_disagreements
    from {{ ref('ml_stats_hourly') }}
    group by model_version

),

final as (

    select
        coalesce(predictions.model_version, hourly.model_version) as model_version,
        predictions.predictions as counted_predictions,
        hourly.predictions as hourly_predictions
    from predictions
    full outer join hourly on predictions.model_version = hourly.model_version
    where
        predictions.predictions is distinct from hourly.predictions
        or predictions.anomalies is distinct from hourly.anomalies
        or predictions.level_disagreements is distinct from hourly.level_disagreements

)

select * from final
