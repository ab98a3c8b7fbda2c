{#-
  Rolling windows the API reads instead of scanning predictions: the last 1 hour, 24 hours and
  7 days of logs, per model version and severity (a row for every severity, zero included).
  Windows end at the end of the newest hour of logs the version has scored (not at the
  wall clock), so a database whose logs stopped yesterday still shows yesterday's windows.
-#}
with

hourly as (

    select * from {{ ref('ml_stats_hourly') }}

),

windows as (

    select *
    from (
        values
        ('1h', interval '1 hour'),
        ('24h', interval '24 hours'),
        ('7d', interval '7 days')
    ) as named (window_name, window_length)

),

severities as (

    -- every value the severity macro can return, so each window has a row for each
    select unnest({{ severity_array() }}) as severity

),

version_ends as (

    select
        model_version,
        max(hour) + interval '1 hour' as window_end
    from hourly
    group by model_version

),

frames as (

    select
        windows.window_name,
        version_ends.window_end - windows.window_length as window_start,
        version_ends.window_end,
        version_ends.model_version,
        severities.severity
    from version_ends
    cross join windows
    cross join severities

),

final as (

    select
        frames.window_name,
        frames.window_start,
        frames.window_end,
        frames.model_version,
        frames.severity,
        coalesce(sum(hourly.predictions), 0)::bigint as predictions,
        coalesce(sum(hourly.anomalies), 0)::bigint as anomalies,
        coalesce(sum(hourly.level_disagreements), 0)::bigint as level_disagreements
    from frames
    left join hourly
        on
            frames.model_version = hourly.model_version
            and frames.severity = hourly.severity
            and frames.window_start <= hourly.hour
            and frames.window_end > hourly.hour
    group by 1, 2, 3, 4, 5

)

select * from final
