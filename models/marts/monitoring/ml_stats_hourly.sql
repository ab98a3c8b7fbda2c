{#-
  Hourly counts of predictions by model version, service, logged and predicted level and
  severity, with the log source of the version. Incremental: predictions stamped after the
  newest predicted_at already counted (last_predicted_at, an index on
  ml_predictions.predicted_at) name the (hour, model version) slices that changed, including
  old hours that late-arriving logs fell into; those slices are recounted in full from
  ml_predictions (index on model_version, logged_at) and replace the old rows (delete+insert on
  hour and model_version). Under a retention (var retention, macros/retention.sql) each
  version's oldest hour is recounted too and the hours before it removed, so the stats sum up
  what ml_predictions holds. Nothing else is read.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['hour', 'model_version'],
        pre_hook=[
            "{{ add_column_if_missing(this, 'log_source', 'text', log_source_literal()) }}",
            "{{ serialize_runs('ml_stats_hourly') }}",
        ],
        post_hook=[
            "{{ retention_stats_cleanup(this) }}",
            {
                "sql": "{{ create_index_if_missing(this, 'ml_stats_hourly_version_hour_idx',
                        ['model_version', 'hour']) }}",
                "transaction": false,
            },
        ],
    )
}}

-- depends_on: {{ source('registry', 'ml_model_registry') }} (the retention's versions)

{#- under a retention, each version's oldest hour is recounted too (the hours before it go) -#}
{%- set oldest_hours = none -%}
{%- if retention_rule() != 'forever' -%}
{%- set oldest_hours -%}
    select
        oldest.model_version,
        oldest.hour
    from ({{ retention_oldest_hours(ref('ml_predictions')) }}) as oldest
    where oldest.hour is not null
{%- endset -%}
{%- endif %}

with

-- not materialized: predictions_of_changed_hours reads it twice, and a materialized CTE
-- would copy the whole table each run instead of reading the changed hours by index
predictions as not materialized (

    select * from {{ ref('ml_predictions') }}

),

to_count as (

    {{ predictions_of_changed_hours('predictions', more_slices=oldest_hours) }}

),

final as (

    select
        date_trunc('hour', to_count.logged_at) as hour,
        to_count.model_version,
        coalesce(to_count.service, '(none)') as service,
        coalesce(to_count.logged_level, '(unknown)') as logged_level,
        to_count.predicted_level,
        to_count.severity,
        count(*) as predictions,
        count(*) filter (where to_count.is_anomaly) as anomalies,
        count(*) filter (where to_count.level_disagrees) as level_disagreements,
        sum(to_count.anomaly_score)::float8 as anomaly_score_sum,
        max(to_count.predicted_at) as last_predicted_at,
        to_count.log_source
    from to_count
    group by 1, 2, 3, 4, 5, 6, to_count.log_source

)

select * from final
