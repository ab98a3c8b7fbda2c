{#-
  Where the logged level and the level the message reads like disagree, per service, over the
  last 7 days of logs the active version scored: the share of lines logged at a level the
  classifier disagrees with, and the most common (logged -> predicted) pair. A service with
  many INFO lines that read like ERROR logs its failures too quietly.
-#}
with

hourly as (

    select * from {{ ref('ml_stats_hourly') }}
    where model_version = '{{ ml_active_version().version }}'

),

recent as (

    select hourly.*
    from hourly
    where hourly.hour >= (select max(newest.hour) from hourly as newest) - interval '7 days'

),

pairs as (

    select
        service,
        logged_level,
        predicted_level,
        sum(predictions) as lines
    from recent
    where logged_level <> '(unknown)'
    group by 1, 2, 3

),

by_service as (

    select
        service,
        sum(lines) as known_level_lines,
        sum(lines) filter (where logged_level <> predicted_level) as disagreements
    from pairs
    group by 1

),

top_pair as (

    select distinct on (service)
        service,
        logged_level || ' -> ' || predicted_level as most_common_disagreement,
        lines as most_common_disagreement_lines
    from pairs
    where logged_level <> predicted_level
    order by service asc, lines desc, logged_level asc, predicted_level asc

),

final as (

    select
        by_service.service,
        by_service.known_level_lines,
        coalesce(by_service.disagreements, 0) as disagreements,
        round(
            100.0 * coalesce(by_service.disagreements, 0) / nullif(by_service.known_level_lines, 0),
            2
        ) as disagreement_pct,
        top_pair.most_common_disagreement,
        top_pair.most_common_disagreement_lines
    from by_service
    left join top_pair on by_service.service = top_pair.service
    order by disagreement_pct desc nulls last, by_service.service asc

)

select * from final
