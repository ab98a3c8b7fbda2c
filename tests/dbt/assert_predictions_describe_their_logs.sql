{#-
  Every prediction of the configured source whose log the source still has describes that very
  log: the same time. The source's retention may delete logs (the next run removes their
  predictions, var retention) and the predictions of other sources stay after a switch, so a
  prediction without its log is no error; one whose log id now names another line is (two
  tables mixed under one source, or ids reused). Returns the offending predictions.
  The predictions of the source's versions by index (model_version, log_entry_id), each log by
  its primary key: linear whatever the planner knows.
-#}
with

versions as (

    select model_version
    from {{ source('registry', 'ml_model_registry') }}
    where log_source = {{ log_source_literal() }}
    group by model_version

),

predictions as (

    select * from {{ ref('ml_predictions') }}
    where model_version in (select versions.model_version from versions)

),

logs as (

    select * from {{ ref('stg_log_arrivals') }}

),

final as (

    select
        predictions.model_version,
        predictions.log_entry_id,
        predictions.logged_at as predicted_log_at,
        logs.logged_at as source_log_at
    from predictions
    inner join logs on predictions.log_entry_id = logs.log_entry_id
    where predictions.logged_at is distinct from logs.logged_at

)

select * from final
