{#-
  Exactly-once: each scoring version (the active one and the challenger) covers one
  contiguous range of log ids (from the first id it scored to its watermark). Every log in
  that range has exactly one prediction by it - none skipped (count 0), none scored twice
  (count 2+). Returns the offending logs with their version.

  Linear whatever the planner knows: the logs in range and the predictions are stacked and
  counted per (version, log) by one aggregate, never joined to each other. On a database whose
  tables were never analysed, a join of the two keyed on model_version alone, with
  log_entry_id as a join filter, compared every log with every prediction of its version
  (20,000 logs: 42 s; 200,000: stopped after 11 minutes).
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

-- one range of logs per version (a handful of versions: a loop over them, each a range scan)
eligible as (

    select
        covered.model_version,
        logs.log_entry_id
    from covered
    inner join logs
        on logs.log_entry_id between covered.first_id and covered.last_id

),

stacked as (

    select
        model_version,
        log_entry_id,
        1 as eligible,
        0 as prediction
    from eligible
    union all
    select
        model_version,
        log_entry_id,
        0 as eligible,
        1 as prediction
    from predictions

),

final as (

    select
        model_version,
        log_entry_id,
        sum(prediction) as predictions
    from stacked
    group by model_version, log_entry_id
    having sum(eligible) > 0 and sum(prediction) <> 1

)

select * from final
