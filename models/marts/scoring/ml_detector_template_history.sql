{#-
  The anomaly detector's history (model_export.training.anomaly_detectors): per model version, service and
  template, how many lines that version has scored, how many it flagged, and the newest of
  them (the API's "templates flagged most often without a label" show it as the example).
  lines_after_training counts only the lines logged after the version's training window: the
  training lines are in the version's own seed already. ml_predictions reads it, as it stood
  before the run, for each new line's template_lines (macros/log_features.sql,
  log_features_history); this model then adds the run's lines. Incremental: only the
  ml_predictions rows written after the newest ones already counted (index on predicted_at),
  grouped and added to the stored counts; never a pass over all logs. A full refresh recounts
  ml_predictions, which gives the same counts. Tables built before the unique index led with
  the template still hold the old one (ml_detector_template_history_uidx, the same columns in
  another order): redundant, it only slows the writes, so the run drops it.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='upsert',
        unique_key=['model_version', 'service', 'template_hash'],
        pre_hook=[
            "{{ serialize_runs('ml_detector_template_history') }}",
            "{{ citus_reference_table_pre_hook() }}",
        ],
        post_hook=[
            "{{ analyze_after_bulk_insert(this) }}",
            {
                "sql": "{{ create_index_if_missing(this, 'ml_detector_template_history_template_uidx',
                        ['model_version', 'template_hash', 'service'], unique=true) }}",
                "transaction": false,
            },
            "drop index if exists {{ this.schema }}.ml_detector_template_history_uidx",
            {
                "sql": "{{ create_index_if_missing(this,
                        'ml_detector_template_history_last_predicted_at_idx',
                        ['last_predicted_at']) }}",
                "transaction": false,
            },
            "{{ citus_reference_table(this) }}",
        ],
    )
}}

with

-- the newest prediction already counted (an index lookup on last_predicted_at)
watermark as (

    select {{ incremental_watermark('last_predicted_at') }} as last_counted_at

),

versions as (

    select * from {{ ref('int_model_versions_rolled_up') }}

),

new_lines as (

    select
        {{ detector_history_counts('predictions', 'versions.window_end') }},
        max(predictions.log_entry_id) as example_log_entry_id,
        max(predictions.predicted_at) as last_predicted_at
    from {{ ref('ml_predictions') }} as predictions
    left join versions on predictions.model_version = versions.model_version
    where
        predictions.template_hash is not null
        and predictions.predicted_at > (select watermark.last_counted_at from watermark)
    group by predictions.model_version, coalesce(predictions.service, ''), predictions.template_hash

),

-- the stored counts of the keys this run adds to (none on a first build)
counted as (

    {{ incremental_stored() }}

),

final as (

    select
        new_lines.model_version,
        new_lines.service,
        new_lines.template_hash,
        (coalesce(counted.lines, 0) + new_lines.lines)::bigint as lines,
        (coalesce(counted.lines_after_training, 0) + new_lines.lines_after_training)::bigint
            as lines_after_training,
        (coalesce(counted.flagged, 0) + new_lines.flagged)::bigint as flagged,
        new_lines.example_log_entry_id,
        new_lines.last_predicted_at
    from new_lines
    left join counted
        on
            new_lines.model_version = counted.model_version
            and new_lines.service = counted.service
            and new_lines.template_hash = counted.template_hash

)

select * from final
