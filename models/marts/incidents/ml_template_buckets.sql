{#-
  Lines per (model version, service, template, time bucket of var incident_bucket_minutes),
  each bucket judged against the same (service, template)'s own history: unusual when it holds
  far more lines of the template than its baseline expects (docs/concepts/incidents.md).
  - Counted incrementally like ml_service_buckets: the ml_predictions rows written since the
    newest one counted here are grouped (on the workers on Citus) and added to the stored
    counts.
  - The baseline: the template's rate per other line of its service over the previous
    var incident_baseline_days (buckets judged unusual for this template left out; half a
    line added, so a template the window never saw is rare, not impossible), times the other
    lines of the bucket, but never fewer than the service's baseline for the bucket expects
    (ml_service_buckets: the same bucket of the day or week), so a service whose other lines
    drop does not turn its remaining templates into bursts. Dispersion: Pearson's chi-square
    of those buckets over their number (at least 1). Bursts no run judged (before the lookback
    of a first build, or a backfill) are screened out too: a bucket far above the template's
    rate over the whole window (the same test, Poisson) counts as unusual there.
  - Unusual: at least var incident_min_lines lines, at least var incident_min_ratio times the
    baseline, an upper-tail probability of at most var incident_tail_probability (Poisson,
    counts divided by the dispersion), and a service history of at least
    var incident_min_history_lines lines in the window. A template labelled normal
    (ml_template_labels) is never unusual; one labelled anomalous always is. Once unusual,
    always unusual: incidents are history.
  - Judged: the buckets this run adds lines to, within var incident_lookback_hours of the
    version's newest line; their history is everything before the first of them.
  Under a retention (var retention) a bucket goes once ml_predictions has none of its lines
  (macros/retention.sql retention_incidents_cleanup).
  Never rebuilt by --full-refresh (its judgements are what incidents were opened on).
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='upsert',
        unique_key=['model_version', 'service', 'template_hash', 'bucket_start'],
        full_refresh=false,
        pre_hook=[
            "{{ serialize_runs('ml_template_buckets') }}",
            "{{ without_nested_loops() }}",
        ],
        post_hook=[
            "{{ retention_incidents_cleanup(this, 'bucket_start') }}",
            "{{ analyze_after_bulk_insert(this) }}",
            {
                "sql": "{{ create_index_if_missing(this, 'ml_template_buckets_uidx',
                        ['model_version', 'service', 'template_hash', 'bucket_start'],
                        unique=true) }}",
                "transaction": false,
            },
            {
                "sql": "{{ create_index_if_missing(this, 'ml_template_buckets_service_bucket_idx',
                        ['model_version', 'service', 'bucket_start']) }}",
                "transaction": false,
            },
            {
                "sql": "{{ create_index_if_missing(this,
                        'ml_template_buckets_last_predicted_at_idx', ['last_predicted_at']) }}",
                "transaction": false,
            },
        ],
    )
}}

-- depends_on: {{ source('registry', 'ml_model_registry') }} (the retention's versions)

{%- set baseline_days = "interval '" ~ var('incident_baseline_days') ~ " days'" %}

with

-- The tables read more than once are not materialized: each read uses their indexes (a
-- materialized CTE has none, and the planner's row estimates for it are blind).
predictions as not materialized (

    select * from {{ ref('ml_predictions') }}

),

service_buckets as not materialized (

    select * from {{ ref('ml_service_buckets') }}

),

labels as (

    select * from {{ ref('stg_template_labels') }}

),

stored as not materialized (

    {{ incremental_stored() }}

),

new_lines as (

    select
        predictions.model_version,
        {{ incident_service('predictions.service') }} as service,
        predictions.template_hash,
        {{ incident_bucket('predictions.logged_at') }} as bucket_start,
        count(*)::bigint as lines,
        count(*) filter (
            where {{ incident_trouble('predictions.logged_level', 'predictions.predicted_level') }}
        )::bigint as trouble_lines,
        count(*) filter (
            where {{ incident_error('predictions.logged_level', 'predictions.predicted_level') }}
        )::bigint as error_lines,
        count(*) filter (where predictions.is_anomaly)::bigint as flagged_lines,
        min(predictions.logged_at) as first_logged_at,
        max(predictions.logged_at) as last_logged_at,
        max(predictions.log_entry_id) as example_log_entry_id,
        max(predictions.predicted_at) as last_predicted_at
    from predictions
    where
        predictions.predicted_at > {{ incremental_watermark('last_predicted_at') }}
        and predictions.template_hash is not null
    group by 1, 2, 3, 4

),

counted as (

    select
        new_lines.model_version,
        new_lines.service,
        new_lines.template_hash,
        new_lines.bucket_start,
        coalesce(stored.lines, 0) + new_lines.lines as lines,
        coalesce(stored.trouble_lines, 0) + new_lines.trouble_lines as trouble_lines,
        coalesce(stored.error_lines, 0) + new_lines.error_lines as error_lines,
        coalesce(stored.flagged_lines, 0) + new_lines.flagged_lines as flagged_lines,
        least(stored.first_logged_at, new_lines.first_logged_at) as first_logged_at,
        greatest(stored.last_logged_at, new_lines.last_logged_at) as last_logged_at,
        greatest(stored.example_log_entry_id, new_lines.example_log_entry_id)
            as example_log_entry_id,
        stored.expected,
        stored.dispersion,
        stored.history_lines,
        stored.tail_probability,
        stored.label,
        coalesce(stored.is_unusual, false) as is_unusual,
        new_lines.last_predicted_at
    from new_lines
    left join stored
        on
            new_lines.model_version = stored.model_version
            and new_lines.service = stored.service
            and new_lines.template_hash = stored.template_hash
            and new_lines.bucket_start = stored.bucket_start

),

-- per version: the first bucket judged (the first this run adds to, within the lookback of
-- the newest line ml_service_buckets has counted)
judged_range as (

    select
        touched.model_version,
        {{ incident_judge_start('touched.first_new_bucket', 'newest.last_logged_at') }}
            as judge_start
    from (
        select
            counted.model_version,
            min(counted.bucket_start) as first_new_bucket
        from counted
        group by counted.model_version
    ) as touched
    cross join lateral (
        select service_buckets.last_logged_at
        from service_buckets
        where service_buckets.model_version = touched.model_version and service_buckets.lines > 0
        order by service_buckets.bucket_start desc
        limit 1
    ) as newest

),

judged_cells as (

    select counted.*
    from counted
    inner join judged_range
        on
            counted.model_version = judged_range.model_version
            and counted.bucket_start >= judged_range.judge_start

),

-- every bucket as it stands after this run (a first build has nothing stored)
cells as (

    select
        counted.model_version,
        counted.service,
        counted.template_hash,
        counted.bucket_start,
        counted.lines,
        counted.is_unusual
    from counted
    union all
    select
        stored.model_version,
        stored.service,
        stored.template_hash,
        stored.bucket_start,
        stored.lines,
        stored.is_unusual
    from stored
    where not exists (
            select 1
            from counted
            where
                counted.model_version = stored.model_version
                and counted.service = stored.service
                and counted.template_hash = stored.template_hash
                and counted.bucket_start = stored.bucket_start
        )

),

-- each judged (service, template)'s buckets of the baseline window, with its service's lines
history_cells as (

    select
        pairs.model_version,
        pairs.service,
        pairs.template_hash,
        cells.lines,
        cells.is_unusual,
        service_buckets.lines as service_lines
    from (
        select distinct
            judged_cells.model_version,
            judged_cells.service,
            judged_cells.template_hash
        from judged_cells
    ) as pairs
    inner join judged_range on pairs.model_version = judged_range.model_version
    inner join cells
        on
            pairs.model_version = cells.model_version
            and pairs.service = cells.service
            and pairs.template_hash = cells.template_hash
            and cells.bucket_start >= judged_range.judge_start - {{ baseline_days }}
            and judged_range.judge_start > cells.bucket_start
    inner join service_buckets
        on
            cells.model_version = service_buckets.model_version
            and cells.service = service_buckets.service
            and cells.bucket_start = service_buckets.bucket_start

),

service_history as (

    select
        service_buckets.model_version,
        service_buckets.service,
        sum(service_buckets.lines)::float8 as lines,
        count(*) filter (where service_buckets.lines > 0) as buckets
    from service_buckets
    inner join judged_range
        on
            service_buckets.model_version = judged_range.model_version
            and service_buckets.bucket_start >= judged_range.judge_start - {{ baseline_days }}
            and service_buckets.bucket_start < judged_range.judge_start
    where exists (
            select 1
            from judged_cells
            where
                judged_cells.model_version = service_buckets.model_version
                and judged_cells.service = service_buckets.service
        )
    group by service_buckets.model_version, service_buckets.service

),

-- Old bursts no run judged (before the lookback of a first build, or a backfill) would make
-- the baseline expect bursts: a bucket far above the template's rate over the whole window
-- (the same test, Poisson) is left out as if it had been judged unusual.
pair_totals as (

    select
        history_cells.*,
        sum(history_cells.lines) over (
            partition by
                history_cells.model_version,
                history_cells.service,
                history_cells.template_hash
        )::float8 as pair_lines,
        service_history.lines as service_window_lines
    from history_cells
    inner join service_history
        on
            history_cells.model_version = service_history.model_version
            and history_cells.service = service_history.service

),

-- the bucket against the template's rate over the whole window (Poisson)
raw_baselines as (

    select
        pair_totals.*,
        (pair_totals.pair_lines + 0.5)
        / greatest(pair_totals.service_window_lines - pair_totals.pair_lines, 1)
        * (pair_totals.service_lines - pair_totals.lines) as raw_expected
    from pair_totals

),

screened_cells as (

    select
        raw_baselines.*,
        raw_baselines.is_unusual or (
            raw_baselines.lines >= {{ var('incident_min_lines') }}
            and raw_baselines.lines >= {{ var('incident_min_ratio') }} * raw_baselines.raw_expected
            and {{ incident_log_upper_tail('raw_baselines.lines', 'raw_baselines.raw_expected') }}
            <= {{ incident_log_alpha() }}
        ) as left_out
    from raw_baselines

),

pair_history as (

    select
        screened_cells.model_version,
        screened_cells.service,
        screened_cells.template_hash,
        sum(screened_cells.lines)::float8 as lines,
        coalesce(sum(screened_cells.lines) filter (where not screened_cells.left_out), 0)::float8
            as clean_lines,
        coalesce(
            sum(screened_cells.service_lines - screened_cells.lines)
            filter (where screened_cells.left_out),
            0
        )::float8 as unusual_other_lines,
        count(*) filter (where screened_cells.left_out) as unusual_buckets,
        coalesce(
            sum(screened_cells.lines ^ 2 / (screened_cells.service_lines - screened_cells.lines))
            filter (
                where
                not screened_cells.left_out
                and screened_cells.service_lines > screened_cells.lines
            ),
            0
        )::float8 as squares_per_other_line
    from screened_cells
    group by screened_cells.model_version, screened_cells.service, screened_cells.template_hash

),

-- the template's rate per other line of its service, and the dispersion around it
rates as (

    select
        judged_cells.*,
        coalesce(service_history.lines, 0) as service_history_lines,
        coalesce(service_history.buckets, 0) as service_history_buckets,
        coalesce(pair_history.lines, 0) as pair_lines,
        coalesce(pair_history.clean_lines, 0) as clean_lines,
        coalesce(pair_history.unusual_buckets, 0) as unusual_buckets,
        coalesce(pair_history.squares_per_other_line, 0) as squares_per_other_line,
        (coalesce(pair_history.clean_lines, 0) + 0.5) / greatest(
            coalesce(service_history.lines, 0) - coalesce(pair_history.lines, 0)
            - coalesce(pair_history.unusual_other_lines, 0),
            1
        ) as rate,
        current_bucket.lines as service_lines,
        coalesce(
            current_bucket.expected,
            service_history.lines / nullif(service_history.buckets, 0)
        ) as service_expected,
        labels.label as current_label
    from judged_cells
    left join pair_history
        on
            judged_cells.model_version = pair_history.model_version
            and judged_cells.service = pair_history.service
            and judged_cells.template_hash = pair_history.template_hash
    left join service_history
        on
            judged_cells.model_version = service_history.model_version
            and judged_cells.service = service_history.service
    inner join service_buckets as current_bucket
        on
            judged_cells.model_version = current_bucket.model_version
            and judged_cells.service = current_bucket.service
            and judged_cells.bucket_start = current_bucket.bucket_start
    left join labels on judged_cells.template_hash = labels.template_hash

),

baselines as (

    select
        rates.*,
        rates.rate * greatest(
            rates.service_lines - rates.lines,
            coalesce(rates.service_expected / (1 + rates.rate), 0)
        ) as baseline,
        greatest(
            1,
            (rates.squares_per_other_line / rates.rate - rates.clean_lines + 0.5)
            / greatest(rates.service_history_buckets - rates.unusual_buckets - 1, 1)
        ) as baseline_dispersion
    from rates

),

judged as (

    select
        baselines.*,
        {{ incident_log_upper_tail(
            'baselines.lines / baselines.baseline_dispersion',
            'baselines.baseline / baselines.baseline_dispersion'
        ) }} as log_tail
    from baselines

)

select
    judged.model_version,
    judged.service,
    judged.template_hash,
    judged.bucket_start,
    judged.lines,
    judged.trouble_lines,
    judged.error_lines,
    judged.flagged_lines,
    judged.first_logged_at,
    judged.last_logged_at,
    judged.example_log_entry_id,
    judged.baseline as expected,
    judged.baseline_dispersion as dispersion,
    judged.clean_lines::bigint as history_lines,
    {{ incident_probability('judged.log_tail') }} as tail_probability,
    judged.current_label as label,
    coalesce(judged.current_label, '') <> 'normal' and (
        judged.is_unusual
        or coalesce(judged.current_label = 'anomalous', false)
        or (
            judged.service_history_lines >= {{ var('incident_min_history_lines') }}
            and judged.lines >= {{ var('incident_min_lines') }}
            and judged.lines >= {{ var('incident_min_ratio') }} * judged.baseline
            and judged.log_tail <= {{ incident_log_alpha() }}
        )
    ) as is_unusual,
    judged.last_predicted_at
from judged
union all
-- late lines in buckets older than the judged ones: counts updated, judgement kept
select counted.*
from counted
inner join judged_range on counted.model_version = judged_range.model_version
where counted.bucket_start < judged_range.judge_start
