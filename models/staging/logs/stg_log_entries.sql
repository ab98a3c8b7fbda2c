{#- Typed, cleaned log lines: the input of every model and of the joblib reference pipelines.
    The view's comment names the source it reads, which model_export checks before training. -#}
{{ config(post_hook="comment on view {{ this }} is {{ log_source_literal() }}") }}
{%- set read = log_source_columns(source('logs', 'log_entries')) -%}

with

source as (

    select * from {{ source('logs', 'log_entries') }}

),

cleaned as (

    select
        -- uncast: `log_entry_id > watermark` reaches the source's index (integer or bigint)
        {{ read.id }} as log_entry_id,
        {{ read.log_id }} as log_id,
        {{ read.timestamp }} as logged_at,
        {{ log_source_level(read.level) }} as level,
        {{ read.level }} as raw_level,
        left(coalesce({{ read.message }}, ''), {{ var('max_message_chars') }}) as message,
        length(coalesce({{ read.message }}, '')) > {{ var('max_message_chars') }}
            as message_truncated,
        {{ read.source_type }} as source_type,
        {{ read.host }} as host,
        {{ read.service }} as service,
        {{ read.category }} as category,
        {{ read.http_status }} as http_status,
        {{ read.response_time_ms }} as response_time_ms,
        {{ read.is_anomaly }} as is_anomaly_label,
        {{ read.anomaly_type }} as anomaly_type,
        {{ read.created_at }} as created_at

    from source

)

select * from cleaned
