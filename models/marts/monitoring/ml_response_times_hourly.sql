{#-
  Response times per hour: the average and the 95th percentile of the source's
  response_time_ms over the logs each model version scored in that hour. One row per (hour,
  model version) with predictions; timed_lines is 0 (and the figures NULL) where no log had a
  response time, and always for a source without that optional column, which is then not
  read. Incremental like ml_stats_hourly: the slices that received predictions after the
  newest one counted here are recounted in full and replace their rows; the response times
  come from the source by id (its primary key), for the predictions of those slices only. A
  percentile cannot be added up from parts, so the grain is the hour: ml_stats_hourly's finer
  rows could not give it.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['hour', 'model_version'],
        pre_hook=["{{ serialize_runs('ml_response_times_hourly') }}"],
        post_hook=[
            {
                "sql": "{{ create_index_if_missing(this, 'ml_response_times_hourly_version_hour_idx',
                        ['model_version', 'hour']) }}",
                "transaction": false,
            },
        ],
    )
}}

{#- an optional column the source lacks (or is not mapped) is read as a typed NULL -#}
{%- set source_has_response_times = not log_source_columns(
    source('logs', 'log_entries')
).response_time_ms.startswith('null::') %}
-- depends_on: {{ ref('stg_log_entries') }} (read only when the source has response times)

with

-- not materialized: predictions_of_changed_hours reads it twice, and a materialized CTE
-- would copy the whole table each run instead of reading the changed hours by index
predictions as not materialized (

    select * from {{ ref('ml_predictions') }}

),

logs as (

    {%- if source_has_response_times %}
    select
        log_entry_id,
        response_time_ms
    from {{ ref('stg_log_entries') }}
    {%- else %}
    select
        null::bigint as log_entry_id,
        null::float8 as response_time_ms
    where false
    {%- endif %}

),

to_count as (

    {{ predictions_of_changed_hours('predictions') }}

),

-- materialized: the subquery below runs once per line, not once for each aggregate of final
timed as materialized (

    select
        date_trunc('hour', to_count.logged_at) as hour,
        to_count.model_version,
        to_count.predicted_at,
        -- by primary key, line by line (a scalar subquery is never merged into a join):
        -- joined, the planner, blind to how few lines changed, read the whole source
        (
            select logs.response_time_ms
            from logs
            where logs.log_entry_id = to_count.log_entry_id
        ) as response_time_ms
    from to_count

),

final as (

    select
        hour,
        model_version,
        count(response_time_ms) as timed_lines,
        sum(response_time_ms)::float8 as response_time_ms_sum,
        avg(response_time_ms)::float8 as avg_response_time_ms,
        percentile_cont(0.95) within group (order by response_time_ms)::float8
            as p95_response_time_ms,
        max(predicted_at) as last_predicted_at
    from timed
    group by hour, model_version

)

select * from final
