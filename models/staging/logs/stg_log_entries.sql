{#- Typed, cleaned log lines: the input of every model and of the joblib reference pipelines. -#}
{%- set present = source_column_names(source('logs', 'log_entries')) -%}

with

source as (

    select * from {{ source('logs', 'log_entries') }}

),

cleaned as (

    select
        -- no cast: a cast would hide the primary key index from `log_entry_id > watermark`
        -- (ids are integer for the old serial table, bigint for bigserial ones)
        id as log_entry_id,
        {{ source_column(present, 'log_id', 'text') }} as log_id,
        "timestamp" as logged_at,
        {{ normalize_level('level::text') }} as level,
        level::text as raw_level,
        left(coalesce(message::text, ''), {{ var('max_message_chars') }}) as message,
        length(coalesce(message::text, '')) > {{ var('max_message_chars') }} as message_truncated,
        {{ source_column(present, 'source_type', 'text') }} as source_type,
        {{ source_column(present, 'host', 'text') }} as host,
        {{ source_column(present, 'service', 'text') }} as service,
        {{ source_column(present, 'category', 'text') }} as category,
        {{ source_column(present, 'http_status', 'integer') }} as http_status,
        {{ source_column(present, 'response_time_ms', 'float8') }} as response_time_ms,
        {{ source_column(present, 'is_anomaly', 'boolean') }} as is_anomaly_label,
        {{ source_column(present, 'anomaly_type', 'text') }} as anomaly_type,
        {{ source_column(present, 'created_at', 'timestamptz') }} as created_at

    from source

)

select * from cleaned
