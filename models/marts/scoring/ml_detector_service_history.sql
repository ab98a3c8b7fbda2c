{#-
  The anomaly detector's history per model version and service: how many lines that version
  has scored (ml_detector_template_history summed over templates, kept as its own small table
  because every scored line looks it up). Updated like ml_detector_template_history: the
  ml_predictions rows written since the newest ones counted, added to the stored counts.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['model_version', 'service'],
        on_schema_change='fail',
        pre_hook=["{{ serialize_runs('ml_detector_service_history') }}"],
        post_hook=[
            {
                "sql": "{{ create_index_if_missing(this, 'ml_detector_service_history_uidx',
                        ['model_version', 'service'], unique=true) }}",
                "transaction": false,
            },
        ],
    )
}}

with

-- the newest prediction already counted (an index lookup on last_predicted_at)
watermark as (

    select
        {% if is_incremental() -%}
        (
            select coalesce(max(counted.last_predicted_at), '-infinity'::timestamptz)
            from {{ this }} as counted
        )
        {%- else -%}
        '-infinity'::timestamptz
        {%- endif %} as last_counted_at

),

new_lines as (

    select
        predictions.model_version,
        coalesce(predictions.service, '') as service,
        count(*) as lines,
        max(predictions.predicted_at) as last_predicted_at
    from {{ ref('ml_predictions') }} as predictions
    where
        predictions.template_hash is not null
        and predictions.predicted_at > (select watermark.last_counted_at from watermark)
    group by predictions.model_version, coalesce(predictions.service, '')

),

-- the stored counts of the keys this run adds to (none on a first build)
counted as (

    {% if is_incremental() -%}
    select * from {{ this }}
    {%- else -%}
    select
        null::text as model_version,
        null::text as service,
        null::bigint as lines
    where false
    {%- endif %}

),

final as (

    select
        new_lines.model_version,
        new_lines.service,
        (coalesce(counted.lines, 0) + new_lines.lines)::bigint as lines,
        new_lines.last_predicted_at
    from new_lines
    left join counted
        on
            new_lines.model_version = counted.model_version
            and new_lines.service = counted.service

)

select * from final
