{#-
  Exactly-once: each scoring version (the active one and the challenger) covers one
  contiguous range of log ids (from the first id it scored to its watermark). Every log in
  that range has exactly one prediction by it - none skipped (count 0), none scored twice
  (count 2+). Returns the offending logs with their version.
-#}
{%- set scoring_versions = ml_scoring_versions() %}

with

predictions as (

    select * from {{ ref('ml_predictions') }}
    where
        model_version in (
            {%- for scoring in scoring_versions %}
            '{{ scoring.version }}'{{ ',' if not loop.last }}
            {%- endfor %}
        )

),

logs as (

    select * from {{ ref('stg_log_entries') }}

),

covered as (

    select
        model_version,
        min(log_entry_id) as first_id,
        max(log_entry_id) as last_id
    from predictions
    group by model_version

),

eligible as (

    select
        covered.model_version,
        logs.log_entry_id
    from logs
    inner join covered
        on logs.log_entry_id between covered.first_id and covered.last_id

),

final as (

    select
        eligible.model_version,
        eligible.log_entry_id,
        count(predictions.log_entry_id) as predictions
    from eligible
    left join predictions
        on
            eligible.model_version = predictions.model_version
            and eligible.log_entry_id = predictions.log_entry_id
    group by eligible.model_version, eligible.log_entry_id
    having count(predictions.log_entry_id) <> 1

)

select * from final
