{#-
  Population stability index of the recent inputs and outputs of the versions that score
  (the active one and the challenger) against each one's training window (from the
  registry). "Recent" is the newest var drift_window_hours of logs
  the version scored; both sides are capped at var drift_sample_rows rows (the newest), so the
  cost stays bounded on large tables. Features: the anomaly detector's inputs, computed for
  the sampled lines only by the log_features macro that each version's compiled scorer uses
  (template_frequency from the version's own seed), binned at the training window's deciles;
  predicted levels: against the levels logged in the training window (what the classifier
  learned). Empty bins count as 0.0001 so the logarithm is finite.
-#}
{%- set scoring_versions = ml_scoring_versions() %}

with

registered as (

    select * from {{ ref('int_model_versions_rolled_up') }}

),

predictions as (

    select * from {{ ref('ml_predictions') }}

),

logs as (

    select * from {{ ref('stg_log_entries') }}

),

windows as (

    select * from {{ ref('ml_stats_windows') }}

),

versions as (

    select
        registered.model_version,
        registered.window_start as training_start,
        registered.window_end as training_end,
        max(windows.window_end) as current_end
    from registered
    inner join windows on registered.model_version = windows.model_version
    where
        registered.model_version in (
            {%- for scoring in scoring_versions %}
            '{{ scoring.version }}'{{ ',' if not loop.last }}
            {%- endfor %}
        )
    group by registered.model_version, registered.window_start, registered.window_end

),

baseline_logs as (

    select
        versions.model_version,
        sampled.log_entry_id,
        sampled.level
    from versions
    cross join lateral (
        select
            logs.log_entry_id,
            logs.level
        from logs
        where logs.logged_at between versions.training_start and versions.training_end
        order by logs.logged_at desc
        limit {{ var('drift_sample_rows') }}
    ) as sampled

),

current_logs as (

    select
        versions.model_version,
        sampled.log_entry_id,
        sampled.predicted_level
    from versions
    cross join lateral (
        select
            predictions.log_entry_id,
            predictions.predicted_level
        from predictions
        where
            predictions.model_version = versions.model_version
            and predictions.logged_at >= versions.current_end
            - interval '{{ var("drift_window_hours") }} hours'
        order by predictions.logged_at desc
        limit {{ var('drift_sample_rows') }}
    ) as sampled

),

-- Materialized: the features are computed for the sampled lines only. Inlined, a planner
-- without statistics on the logs computed them for every log and filtered afterwards
-- (200,000 logs: 24 s instead of 3 s).
sampled_logs as materialized (

    select logs.*
    from logs
    where logs.log_entry_id in (
            select baseline_logs.log_entry_id from baseline_logs
            union
            select current_logs.log_entry_id from current_logs
        )

),

features as (

    -- each version's features: template_frequency is relative to its own training set
    {%- for scoring in scoring_versions %}
    select
        '{{ scoring.version }}'::text as model_version,
        version_features.*
    from (
        {{ log_features('sampled_logs', scoring.frequency_seed, templates=scoring.templates) }}
    ) as version_features
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}

),

-- one row per (side, sampled line, feature): every column log_features computes but the key,
-- unpivoted by name, so the list follows the compiler's macro without a copy here
feature_values as (

    select
        features.model_version,
        features.log_entry_id,
        unpivoted.key as feature,
        unpivoted.value::float8 as value
    from features
    cross join lateral jsonb_each_text(
        to_jsonb(features) - 'model_version' - 'log_entry_id'
    ) as unpivoted (key, value)

),

observations as (

    {%- for side in ['baseline', 'current'] %}
    select
        {{ side }}_logs.model_version,
        '{{ side }}' as side,
        feature_values.feature,
        feature_values.value
    from {{ side }}_logs
    inner join feature_values
        on
            {{ side }}_logs.model_version = feature_values.model_version
            and {{ side }}_logs.log_entry_id = feature_values.log_entry_id
    union all
    {%- endfor %}
    select
        model_version,
        'baseline' as side,
        'predicted_level' as feature,
        array_position(array['DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'], level)::float8 as value
    from baseline_logs
    where level is not null
    union all
    select
        model_version,
        'current' as side,
        'predicted_level' as feature,
        array_position(array['DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'], predicted_level)::float8
            as value
    from current_logs

),

edges as (

    -- decile edges of the training side (distinct, sorted: width_bucket needs that); the
    -- predicted level is categorical, so its bins are the five levels themselves
    select
        model_version,
        feature,
        case
            when feature = 'predicted_level' then array[2, 3, 4, 5]::float8[]
            else array(
                    select distinct
                        unnest(
                            percentile_cont(array[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9])
                            within group (order by value)
                        )
                    order by 1
                )
        end as bin_edges
    from observations
    where side = 'baseline'
    group by model_version, feature

),

binned as (

    select
        observations.model_version,
        observations.feature,
        observations.side,
        width_bucket(observations.value, edges.bin_edges) as bin,
        count(*) as rows_in_bin
    from observations
    inner join edges
        on
            observations.model_version = edges.model_version
            and observations.feature = edges.feature
    group by 1, 2, 3, 4

),

shares as (

    select
        model_version,
        feature,
        bin,
        coalesce(sum(rows_in_bin) filter (where side = 'baseline'), 0) as baseline_rows,
        coalesce(sum(rows_in_bin) filter (where side = 'current'), 0) as current_rows
    from binned
    group by 1, 2, 3

),

proportions as (

    select
        shares.*,
        sum(shares.baseline_rows) over (partition by shares.model_version, shares.feature)
            as baseline_total,
        sum(shares.current_rows) over (partition by shares.model_version, shares.feature)
            as current_total
    from shares

),

terms as (

    select
        model_version,
        feature,
        baseline_rows,
        current_rows,
        baseline_total,
        current_total,
        greatest(baseline_rows::float8 / nullif(baseline_total, 0)::float8, 0.0001::float8)
            as baseline_share,
        greatest(current_rows::float8 / nullif(current_total, 0)::float8, 0.0001::float8)
            as current_share
    from proportions

),

final as (

    select
        versions.model_version,
        terms.feature,
        versions.training_start,
        versions.training_end,
        versions.current_end - interval '{{ var("drift_window_hours") }} hours' as current_start,
        versions.current_end,
        sum(terms.baseline_rows)::bigint as baseline_rows,
        sum(terms.current_rows)::bigint as current_rows,
        case
            when min(terms.baseline_total) > 0 and min(terms.current_total) > 0
                then sum(
                        (terms.current_share - terms.baseline_share)
                        * ln(terms.current_share / terms.baseline_share)
                    )::float8
        end as psi,
        -- above it ml_alerts raises a drift alert: stored beside each PSI for its readers
        {{ var('alert_drift_psi') }}::float8 as alert_threshold
    from terms
    inner join versions on terms.model_version = versions.model_version
    group by 1, 2, 3, 4, 5, 6

)

select * from final
