{#-
  One row per (log, model version): the active model version's predictions, computed in the
  database by the compiled models (macros/generated/). Incremental runs read only the logs the
  active version has not scored, by id: everything above its watermark, plus a bounded range
  below it (var late_id_window) re-checked with an anti-join for ids committed out of order.
  The watermark of a version that has scored nothing yet is where the table ends, so a newly
  activated version scores new logs from then on; var rescore_from reaches further back.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        pre_hook=[
            "set local jit = off",
            "set local work_mem = '{{ var('scoring_work_mem') }}'",
            "{{ serialize_runs('ml_predictions') }}",
        ],
        post_hook=[
            {
                "sql": "{{ create_index_if_missing(this, 'ml_predictions_version_log_uidx',
                        ['model_version', 'log_entry_id'], unique=true) }}",
                "transaction": false,
            },
            {
                "sql": "{{ create_index_if_missing(this, 'ml_predictions_logged_at_idx',
                        ['logged_at']) }}",
                "transaction": false,
            },
            {
                "sql": "{{ create_index_if_missing(this, 'ml_predictions_version_logged_at_idx',
                        ['model_version', 'logged_at']) }}",
                "transaction": false,
            },
            {
                "sql": "{{ create_index_if_missing(this, 'ml_predictions_predicted_at_idx',
                        ['predicted_at']) }}",
                "transaction": false,
            },
        ],
    )
}}

{%- set active_version = ml_model_version() -%}

with

{% if is_incremental() -%}
progress as (

    select
        (
            select min(scored.log_entry_id)
            from {{ this }} as scored
            where scored.model_version = {{ active_version }}
        ) as version_first_id,
        (
            select max(scored.log_entry_id)
            from {{ this }} as scored
            where scored.model_version = {{ active_version }}
        ) as version_watermark

),

bounds as (

    select
        least(
            case
                -- a version that has scored nothing starts where the table ends
                when progress.version_watermark is null
                    then coalesce(
                            (select max(everything.log_entry_id) from {{ this }} as everything), 0
                        )
                -- re-check below the watermark, but never below the version's first id:
                -- older logs belong to the previous version unless rescore_from says so
                else greatest(
                        progress.version_watermark - {{ var('late_id_window') }},
                        progress.version_first_id - 1
                    )
            end,
            {% if var('rescore_from') -%}
            (
                select min(windowed.log_entry_id) - 1
                from {{ ref('stg_log_entries') }} as windowed
                where windowed.logged_at >= '{{ var("rescore_from") }}'::timestamptz
            )
            {%- else -%}
            null
            {%- endif %}
        ) as lower_id
    from progress

),

{% endif -%}

-- Not materialized: the compiled models read batch several times, and a materialized CTE
-- (the default for one read more than once) is a CTE scan, which keeps every read of it out of
-- parallel workers; inlined, each read is a plain (parallel) scan of the same rows.
batch as not materialized (

    select logs.*
    from {{ ref('stg_log_entries') }} as logs
    {% if is_incremental() -%}
    where
        logs.log_entry_id > (select bounds.lower_id from bounds)
        and not exists (
            select 1
            from {{ this }} as scored
            where
                scored.model_version = {{ active_version }}
                and scored.log_entry_id = logs.log_entry_id
                -- the same bound on this side keeps the anti-join to an index range
                and scored.log_entry_id > (select bounds.lower_id from bounds)
        )
    {%- endif %}

),

levels as (

    {{ ml_level_classifier('batch') }}

),

anomalies as (

    {{ ml_anomaly_detector('batch') }}

),

final as (

    select
        batch.log_entry_id::bigint as log_entry_id,
        {{ active_version }}::text as model_version,
        levels.predicted_level,
        levels.level_confidence,
        batch.level as logged_level,
        coalesce(batch.level <> levels.predicted_level, false) as level_disagrees,
        anomalies.is_anomaly,
        anomalies.anomaly_score,
        anomalies.anomaly_confidence,
        {{ severity('anomalies.is_anomaly', 'levels.predicted_level') }} as severity,
        {{ explanation('levels', 'anomalies') }} as explanation,
        batch.logged_at,
        batch.service,
        batch.host,
        batch.source_type,
        batch.log_id,
        left(batch.message, 500) as message,
        -- after the lock (a statement of its own), so runs that commit later stamp later
        statement_timestamp() as predicted_at
    from batch
    inner join levels on batch.log_entry_id = levels.log_entry_id
    inner join anomalies on batch.log_entry_id = anomalies.log_entry_id

)

select * from final
