{#-
  Agreement of the level classifier with the logged level, per day, service and model
  version, from the hourly stats (cheap however many predictions there are). "Severity
  order" is DEBUG < INFO < WARN < ERROR < FATAL: a line predicted more severe than it was
  logged is under-logged (the interesting case: an INFO that reads like an ERROR).
-#}
with

hourly as (

    select * from {{ ref('ml_stats_hourly') }}

),

ranked as (

    select
        date_trunc('day', hourly.hour) as day,
        hourly.service,
        hourly.model_version,
        hourly.logged_level,
        hourly.predicted_level,
        hourly.predictions,
        array_position(array['DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'], hourly.logged_level)
            as logged_rank,
        array_position(array['DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'], hourly.predicted_level)
            as predicted_rank
    from hourly

),

pairs as (

    select
        day,
        service,
        model_version,
        logged_level,
        predicted_level,
        logged_rank,
        predicted_rank,
        sum(predictions) as predictions
    from ranked
    group by 1, 2, 3, 4, 5, 6, 7

),

final as (

    select
        day,
        service,
        model_version,
        sum(predictions)::bigint as predictions,
        coalesce(sum(predictions) filter (where logged_rank is not null), 0)::bigint
            as known_level_predictions,
        coalesce(sum(predictions) filter (where logged_rank = predicted_rank), 0)::bigint
            as agreements,
        (
            sum(predictions) filter (where logged_rank = predicted_rank)::float8
            / nullif(sum(predictions) filter (where logged_rank is not null), 0)::float8
        ) as agreement_rate,
        coalesce(sum(predictions) filter (where predicted_rank > logged_rank), 0)::bigint
            as under_logged,
        coalesce(sum(predictions) filter (where predicted_rank < logged_rank), 0)::bigint
            as over_logged,
        -- logged DEBUG or INFO, predicted ERROR or FATAL
        coalesce(
            sum(predictions) filter (where logged_rank <= 2 and predicted_rank >= 4), 0
        )::bigint as logged_low_reads_high,
        jsonb_object_agg(logged_level || '->' || predicted_level, predictions) as confusion
    from pairs
    group by 1, 2, 3

)

select * from final
