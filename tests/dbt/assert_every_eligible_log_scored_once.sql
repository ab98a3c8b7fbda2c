{#-
  Exactly-once: the active model version covers one contiguous range of log ids (from the
  first id it scored to its watermark). Every log in that range has exactly one prediction
  by it - none skipped (count 0), none scored twice (count 2+). Returns the offending logs.
-#}
{%- set active_version = ml_model_version() -%}

with

predictions as (

    select * from {{ ref('ml_predictions') }}
    where model_version = {{ active_version }}

),

logs as (

    select * from {{ ref('stg_log_entries') }}

),

covered as (

    select
        min(log_entry_id) as first_id,
        max(log_entry_id) as last_id
    from predictions

),

eligible as (

    select logs.log_entry_id
    from logs
    cross join covered
    where logs.log_entry_id between covered.first_id and covered.last_id

),

final as (

    select
        eligible.log_entry_id,
        count(predictions.log_entry_id) as predictions
    from eligible
    left join predictions on eligible.log_entry_id = predictions.log_entry_id
    group by eligible.log_entry_id
    having count(predictions.log_entry_id) <> 1

)

select * from final
