{#-
  The anomaly detector's history per model version and service: how many lines that version
  has scored, kept as its own small table because every scored line looks it up. Derived from
  ml_detector_template_history (whose counts are cumulative), not from ml_predictions again:
  each run re-sums the services whose templates this run's lines touched (an index range on
  the template history's last_predicted_at, then its unique index by version and service).
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='upsert',
        unique_key=['model_version', 'service'],
        pre_hook=[
            "{{ serialize_runs('ml_detector_service_history') }}",
            "{{ citus_reference_table_pre_hook() }}",
        ],
        post_hook=[
            {
                "sql": "{{ create_index_if_missing(this, 'ml_detector_service_history_uidx',
                        ['model_version', 'service'], unique=true) }}",
                "transaction": false,
            },
            "{{ citus_reference_table(this) }}",
        ],
    )
}}

with

templates as (

    select * from {{ ref('ml_detector_template_history') }}

),

-- the newest template count already summed here
watermark as (

    select {{ incremental_watermark('last_predicted_at') }} as last_summed_at

),

touched as (

    select distinct
        templates.model_version,
        templates.service
    from templates
    where templates.last_predicted_at > (select watermark.last_summed_at from watermark)

),

final as (

    select
        templates.model_version,
        templates.service,
        sum(templates.lines)::bigint as lines,
        sum(templates.lines_after_training)::bigint as lines_after_training,
        max(templates.last_predicted_at) as last_predicted_at
    from templates
    inner join touched
        on
            templates.model_version = touched.model_version
            and templates.service = touched.service
    group by templates.model_version, templates.service

)

select * from final
