{#-
  One row per model version: the registry's rows (one per trained model of the version)
  rolled up, with the version's roles, training window and each model's held-out metrics.
  What the lifecycle marts and drift need to know about a version, computed once. A view, like
  the staging below it, so a role change shows at once. Only the default pair's versions, which
  score ml_predictions: a bring-your-own model's versions have roles of their own and score a
  table of the user's (macros/byo_models.sql).
-#}
with

trained_models as (

    select * from {{ ref('stg_registry__trained_models') }}

),

rolled_up as (

    select
        model_version,
        bool_or(is_active) as is_active,
        bool_or(is_challenger) as is_challenger,
        min(trained_at) as trained_at,
        min(window_start) as window_start,
        max(window_end) as window_end,
        max(training_rows) as training_rows,
        max(sklearn_version) as sklearn_version,
        max(log_source) as log_source,
        (array_agg(metrics) filter (where model_name = 'level_classifier'))[1] as level_metrics,
        (array_agg(metrics) filter (where model_name = 'anomaly_detector'))[1]
            as anomaly_metrics
    from trained_models
    where model_kind = 'default'
    group by model_version

)

select * from rolled_up
