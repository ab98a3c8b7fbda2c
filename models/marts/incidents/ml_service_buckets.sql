{#-
  Lines per (model version, service, time bucket of var incident_bucket_minutes), each bucket
  judged against the same service's own history: a drop (or silence) is a bucket with far
  fewer lines than its baseline (docs/concepts/incidents.md).
  - Counted incrementally: the ml_predictions rows written since the newest one counted here
    (index on predicted_at) are grouped and added to the stored counts (upsert). On Citus the
    grouping runs on the workers and only the groups travel to the coordinator.
  - The baseline of a bucket: the mean of the service's lines in the same bucket of the week
    over the previous var incident_baseline_days, once at least var incident_min_baseline_days
    such weeks are there, else of the same bucket of the day; none with fewer days. Days
    before the version's first bucket do not count; a day without a row counts 0 lines (a
    quiet night); buckets judged drops do not count. Dispersion: the variance of those counts
    over their mean (at least 1).
  - Judged: the buckets from the first one this run changed (or the newest one stored, which
    may have been partial) to the newest, within var incident_lookback_hours of the newest
    line, for every service with lines in the baseline window; a bucket without lines gets a
    row only when its baseline expects at least var incident_drop_min_expected lines. A drop
    needs a complete bucket (a line of the version logged after it), at least
    var incident_drop_min_expected lines expected, at most var incident_drop_ratio of them,
    and a lower-tail probability of at most var incident_tail_probability (Poisson, divided by
    the dispersion). Once a drop, always a drop: incidents are history.
  Under a retention (var retention) a bucket goes once ml_predictions has none of its lines
  (macros/retention.sql retention_incidents_cleanup).
  Never rebuilt by --full-refresh (its judgements are what incidents were opened on).
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='upsert',
        unique_key=['model_version', 'service', 'bucket_start'],
        full_refresh=false,
        pre_hook=["{{ serialize_runs('ml_service_buckets') }}"],
        post_hook=[
            "{{ retention_incidents_cleanup(this, 'bucket_start') }}",
            "{{ analyze_after_bulk_insert(this) }}",
            {
                "sql": "{{ create_index_if_missing(this, 'ml_service_buckets_uidx',
                        ['model_version', 'service', 'bucket_start'], unique=true) }}",
                "transaction": false,
            },
            {
                "sql": "{{ create_index_if_missing(this, 'ml_service_buckets_version_bucket_idx',
                        ['model_version', 'bucket_start']) }}",
                "transaction": false,
            },
            {
                "sql": "{{ create_index_if_missing(this,
                        'ml_service_buckets_last_predicted_at_idx', ['last_predicted_at']) }}",
                "transaction": false,
            },
        ],
    )
}}

-- depends_on: {{ source('registry', 'ml_model_registry') }} (the retention's versions)

{%- set bucket = incident_bucket_interval() -%}
{%- set baseline_days = "interval '" ~ var('incident_baseline_days') ~ " days'" -%}
{%- set min_days = var('incident_min_baseline_days') %}

with

-- The tables read more than once are not materialized: each read uses their indexes (a
-- materialized CTE has none, and the planner's row estimates for it are blind).
predictions as not materialized (

    select * from {{ ref('ml_predictions') }}

),

stored as not materialized (

    {{ incremental_stored() }}

),

new_lines as (

    select
        predictions.model_version,
        {{ incident_service('predictions.service') }} as service,
        {{ incident_bucket('predictions.logged_at') }} as bucket_start,
        count(*)::bigint as lines,
        min(predictions.logged_at) as first_logged_at,
        max(predictions.logged_at) as last_logged_at,
        max(predictions.predicted_at) as last_predicted_at
    from predictions
    where predictions.predicted_at > {{ incremental_watermark('last_predicted_at') }}
    group by 1, 2, 3

),

-- per version this run adds lines to: its first bucket, its newest line, the buckets judged
bounds as (

    select
        touched.model_version,
        touched.run_predicted_at,
        least(touched.first_new_bucket, first_stored.bucket_start) as first_bucket,
        greatest(touched.newest_new_at, newest_stored.last_logged_at) as newest_logged_at,
        least(touched.first_new_bucket, newest_stored.bucket_start) as first_changed_bucket
    from (
        select
            new_lines.model_version,
            min(new_lines.bucket_start) as first_new_bucket,
            max(new_lines.last_logged_at) as newest_new_at,
            max(new_lines.last_predicted_at) as run_predicted_at
        from new_lines
        group by new_lines.model_version
    ) as touched
    left join lateral (
        select stored.bucket_start
        from stored
        where stored.model_version = touched.model_version
        order by stored.bucket_start
        limit 1
    ) as first_stored on true
    left join lateral (
        select
            stored.bucket_start,
            stored.last_logged_at
        from stored
        where stored.model_version = touched.model_version and stored.lines > 0
        order by stored.bucket_start desc
        limit 1
    ) as newest_stored on true

),

judged_range as (

    select
        bounds.*,
        {{ incident_bucket('bounds.newest_logged_at') }} as newest_bucket,
        {{ incident_judge_start('bounds.first_changed_bucket', 'bounds.newest_logged_at') }}
            as judge_start
    from bounds

),

counted as (

    select
        new_lines.model_version,
        new_lines.service,
        new_lines.bucket_start,
        coalesce(stored.lines, 0) + new_lines.lines as lines,
        least(stored.first_logged_at, new_lines.first_logged_at) as first_logged_at,
        greatest(stored.last_logged_at, new_lines.last_logged_at) as last_logged_at,
        stored.expected,
        stored.dispersion,
        stored.baseline,
        stored.baseline_buckets,
        stored.tail_probability,
        coalesce(stored.is_drop, false) as is_drop,
        new_lines.last_predicted_at
    from new_lines
    left join stored
        on
            new_lines.model_version = stored.model_version
            and new_lines.service = stored.service
            and new_lines.bucket_start = stored.bucket_start

),

-- the rows of the judged versions from the baseline window on, as they stand after this run
window_rows as (

    select counted.*
    from counted
    union all
    select stored.*
    from stored
    inner join judged_range on stored.model_version = judged_range.model_version
    where
        stored.bucket_start >= judged_range.judge_start - {{ baseline_days }}
        and not exists (
            select 1
            from counted
            where
                counted.model_version = stored.model_version
                and counted.service = stored.service
                and counted.bucket_start = stored.bucket_start
        )

),

grid as (

    select
        services.model_version,
        services.service,
        slots.bucket_start,
        judged_range.first_bucket,
        judged_range.newest_logged_at,
        judged_range.run_predicted_at
    from (
        select distinct
            window_rows.model_version,
            window_rows.service
        from window_rows
        where window_rows.lines > 0
    ) as services
    inner join judged_range on services.model_version = judged_range.model_version
    cross join lateral generate_series(
        judged_range.judge_start, judged_range.newest_bucket, {{ bucket }}
    ) as slots (bucket_start)

),

-- the same bucket of earlier days in the baseline window (weekly: of earlier weeks)
same_slot as (

    select
        grid.model_version,
        grid.service,
        grid.bucket_start,
        past.lines::float8 as lines,
        past.is_drop,
        extract(epoch from grid.bucket_start - past.bucket_start)::bigint % (7 * 86400) = 0
            as weekly
    from grid
    inner join window_rows as past
        on
            grid.model_version = past.model_version
            and grid.service = past.service
            and grid.bucket_start > past.bucket_start
            and grid.bucket_start - {{ baseline_days }} <= past.bucket_start
            and extract(epoch from grid.bucket_start - past.bucket_start)::bigint % 86400 = 0

),

-- their sums, drops left out (and counted, to leave their days out too)
history as (

    select
        grid.model_version,
        grid.service,
        grid.bucket_start,
        coalesce(sum(past.lines) filter (where not past.is_drop), 0) as day_lines,
        coalesce(sum(past.lines ^ 2) filter (where not past.is_drop), 0) as day_squares,
        count(*) filter (where past.is_drop) as day_drops,
        coalesce(sum(past.lines) filter (where not past.is_drop and past.weekly), 0) as week_lines,
        coalesce(sum(past.lines ^ 2) filter (where not past.is_drop and past.weekly), 0)
            as week_squares,
        count(*) filter (where past.is_drop and past.weekly) as week_drops
    from grid
    left join same_slot as past
        on
            grid.model_version = past.model_version
            and grid.service = past.service
            and grid.bucket_start = past.bucket_start
    group by grid.model_version, grid.service, grid.bucket_start

),

-- how many earlier days (weeks) of the version the window holds for each bucket, drops aside
baseline_days as (

    select
        grid.*,
        coalesce(current_rows.lines, 0) as lines,
        current_rows.first_logged_at,
        current_rows.last_logged_at,
        coalesce(current_rows.is_drop, false) as was_drop,
        history.day_lines,
        history.day_squares,
        history.week_lines,
        history.week_squares,
        floor(
            extract(
                epoch from grid.bucket_start
                - greatest(grid.first_bucket, grid.bucket_start - {{ baseline_days }})
            ) / 86400
        )::bigint - history.day_drops as days,
        floor(
            extract(
                epoch from grid.bucket_start
                - greatest(grid.first_bucket, grid.bucket_start - {{ baseline_days }})
            )
            / (7 * 86400)
        )::bigint - history.week_drops as weeks
    from grid
    inner join history
        on
            grid.model_version = history.model_version
            and grid.service = history.service
            and grid.bucket_start = history.bucket_start
    left join window_rows as current_rows
        on
            grid.model_version = current_rows.model_version
            and grid.service = current_rows.service
            and grid.bucket_start = current_rows.bucket_start

),

baselines as (

    select
        baseline_days.*,
        case
            when baseline_days.weeks >= {{ min_days }} then 'weekday'
            when baseline_days.days >= {{ min_days }} then 'hour_of_day'
        end as baseline,
        case
            when baseline_days.weeks >= {{ min_days }} then baseline_days.weeks
            when baseline_days.days >= {{ min_days }} then baseline_days.days
        end as baseline_buckets,
        case
            when baseline_days.weeks >= {{ min_days }}
                then baseline_days.week_lines / baseline_days.weeks
            when baseline_days.days >= {{ min_days }}
                then baseline_days.day_lines / baseline_days.days
        end as expected,
        case
            when baseline_days.weeks >= {{ min_days }}
                then baseline_days.week_squares / baseline_days.weeks
            when baseline_days.days >= {{ min_days }}
                then baseline_days.day_squares / baseline_days.days
        end as mean_square
    from baseline_days

),

tails as (

    select
        baselines.*,
        greatest(
            1, (baselines.mean_square - baselines.expected ^ 2) / nullif(baselines.expected, 0)
        ) as dispersion
    from baselines

),

judged as (

    select
        tails.*,
        case
            when tails.expected > 0
                then {{ incident_log_lower_tail(
                    'tails.lines / tails.dispersion', 'tails.expected / tails.dispersion'
                ) }}
        end as log_tail
    from tails

),

final as (

    select
        judged.model_version,
        judged.service,
        judged.bucket_start,
        judged.lines,
        judged.first_logged_at,
        judged.last_logged_at,
        judged.expected,
        judged.dispersion,
        judged.baseline,
        judged.baseline_buckets,
        {{ incident_probability('judged.log_tail') }} as tail_probability,
        judged.was_drop or coalesce(
            judged.bucket_start + {{ bucket }} <= judged.newest_logged_at
            and judged.expected >= {{ var('incident_drop_min_expected') }}
            and judged.lines <= {{ var('incident_drop_ratio') }} * judged.expected
            and judged.log_tail <= {{ incident_log_alpha() }},
            false
        ) as is_drop,
        judged.run_predicted_at as last_predicted_at
    from judged
    where judged.lines > 0 or judged.expected >= {{ var('incident_drop_min_expected') }}
    union all
    -- late lines in buckets older than the judged ones: counts updated, judgement kept
    select counted.*
    from counted
    inner join judged_range on counted.model_version = judged_range.model_version
    where counted.bucket_start < judged_range.judge_start

)

select * from final
