{#- The anomaly detector's inputs for every log line; a view, computed only when read. -#}
with

logs as (

    select * from {{ ref('stg_log_entries') }}

),

features as (

    {{ log_features('logs') }}

)

select * from features
