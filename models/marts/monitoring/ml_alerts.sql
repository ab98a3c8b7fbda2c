{#-
  One row per alert about the ACTIVE model version (the challenger scores in shadow mode and
  never alerts), appended and never rewritten: the notifier (`python -m alerts notify`) sends
  each row once. Rules, one per kind of var alert_kinds (docs/concepts/alerts.md; every
  threshold is a var in dbt_project.yml):
  - high_severity_anomaly: a (service, hour) with at least alert_high_severity_min_lines
    high-severity lines; one alert with the count and the worst line (highest anomaly score).
  - anomaly_rate_spike / level_disagreement_spike: a (service, hour)'s rate against the same
    service's previous alert_baseline_days of hours; it needs enough lines on both sides and
    must reach max(baseline x alert_spike_ratio, baseline + alert_spike_min_increase).
  - drift: an ml_drift feature whose PSI exceeds alert_drift_psi (at most one per feature and
    day of the newest scored hour).
  - new_anomalous_template: a line the anomaly detector flags (is_anomaly) on the first line
    of its template in its service (template_lines = 0): one alert per (service, template)
    ever, whichever version flags it (its key has no version). The detector's rarity makes
    this the alert worth receiving: docs/results/benchmarks.md ("Alerts a day").
  alert_key is an md5 of what the alert is about (its kind, the subject each rule gives:
  service and hour, feature and day, or service and template; and the version), never of when
  it was found, so reruns and full refreshes produce the same keys and the anti-join below
  (backed by a unique index) inserts each alert once.

  Incremental: only the (service, hour) slices of ml_stats_hourly counted after the newest
  `source_predicted_at` already stored (the stats' own last_predicted_at), and only hours
  within alert_lookback_hours of the newest scored hour, are evaluated; their baselines come
  from ml_stats_hourly too (index on model_version, hour). ml_predictions is read only for the
  worst line of an alerted hour (index on model_version, logged_at).
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        pre_hook=["{{ serialize_runs('ml_alerts') }}"],
        post_hook=[
            {
                "sql": "{{ create_index_if_missing(this, 'ml_alerts_key_uidx',
                        ['alert_key'], unique=true) }}",
                "transaction": false,
            },
        ],
    )
}}

{%- set active = ml_active_version() -%}

with

-- Not materialized: read more than once, and a materialized CTE would copy the version's
-- whole history instead of letting each read use the (model_version, hour) index.
hourly as not materialized (

    select * from {{ ref('ml_stats_hourly') }}
    where model_version = '{{ active.version }}'

),

predictions as (

    select * from {{ ref('ml_predictions') }}
    where model_version = '{{ active.version }}'

),

drift as (

    select * from {{ ref('ml_drift') }}
    where model_version = '{{ active.version }}'

),

bounds as (

    select
        max(hourly.hour) + interval '1 hour'
        - interval '{{ var("alert_lookback_hours") }} hours' as lookback_start,
        {{ incremental_watermark('source_predicted_at') }} as watermark
    from hourly

),

changed_slices as (

    select
        hourly.service,
        hourly.hour,
        max(hourly.last_predicted_at) as last_predicted_at
    from hourly
    cross join bounds
    where
        hourly.hour >= bounds.lookback_start
        and hourly.last_predicted_at > bounds.watermark
    group by hourly.service, hourly.hour

),

service_hours as (

    -- whole (service, hour) totals, for the changed hours and their baseline hours
    select
        hourly.service,
        hourly.hour,
        sum(hourly.predictions)::bigint as lines,
        sum(hourly.anomalies)::bigint as anomalies,
        coalesce(sum(hourly.predictions) filter (where hourly.logged_level <> '(unknown)'), 0)
        ::bigint as known_level_lines,
        sum(hourly.level_disagreements)::bigint as level_disagreements,
        coalesce(
            sum(hourly.predictions) filter (where hourly.severity in {{ high_severities() }}), 0
        )::bigint
            as high_severity_lines
    from hourly
    where
        hourly.hour
        >= (select min(changed_slices.hour) from changed_slices)
        - interval '{{ var("alert_baseline_days") }} days'
    group by hourly.service, hourly.hour

),

current_hours as (

    select
        service_hours.*,
        coalesce(sum(past.lines), 0)::bigint as baseline_lines,
        coalesce(sum(past.anomalies), 0)::bigint as baseline_anomalies,
        coalesce(sum(past.known_level_lines), 0)::bigint as baseline_known_level_lines,
        coalesce(sum(past.level_disagreements), 0)::bigint as baseline_level_disagreements
    from service_hours
    inner join changed_slices
        on
            service_hours.service = changed_slices.service
            and service_hours.hour = changed_slices.hour
    left join service_hours as past
        on
            service_hours.service = past.service
            and service_hours.hour - interval '{{ var("alert_baseline_days") }} days' <= past.hour
            and service_hours.hour > past.hour
    group by
        service_hours.service,
        service_hours.hour,
        service_hours.lines,
        service_hours.anomalies,
        service_hours.known_level_lines,
        service_hours.level_disagreements,
        service_hours.high_severity_lines

),

rates as (

    select
        {{ alert_kind('anomaly_rate_spike') }} as alert_kind,
        'high' as severity,
        'anomalous' as what,
        service,
        hour,
        anomalies as events,
        lines,
        baseline_anomalies as baseline_events,
        baseline_lines
    from current_hours
    union all
    select
        {{ alert_kind('level_disagreement_spike') }} as alert_kind,
        'medium' as severity,
        'read as another level than logged' as what,
        service,
        hour,
        level_disagreements as events,
        known_level_lines as lines,
        baseline_level_disagreements as baseline_events,
        baseline_known_level_lines as baseline_lines
    from current_hours

),

rate_shares as (

    select
        rates.*,
        rates.events::float8 / nullif(rates.lines, 0)::float8 as observed,
        rates.baseline_events::float8 / nullif(rates.baseline_lines, 0)::float8 as baseline
    from rates

),

rate_thresholds as (

    select
        rate_shares.*,
        greatest(
            rate_shares.baseline * {{ var('alert_spike_ratio') }},
            rate_shares.baseline + {{ var('alert_spike_min_increase') }}
        ) as threshold
    from rate_shares

),

rate_alerts as (

    select
        alert_kind,
        concat_ws('|', service, extract(epoch from hour)::bigint) as subject,
        service,
        hour as window_start,
        hour + interval '1 hour' as window_end,
        observed,
        baseline,
        threshold,
        severity,
        format(
            '%s on %s, hour from %s UTC: %s%% of %s lines %s (baseline %s%% of %s lines over '
            '%s days, threshold %s%%)',
            {{ alert_title('alert_kind') }},
            service,
            to_char(hour at time zone 'UTC', 'YYYY-MM-DD HH24:MI'),
            to_char(100 * observed, 'FM990.0'),
            lines,
            what,
            to_char(100 * baseline, 'FM990.0'),
            baseline_lines,
            {{ var('alert_baseline_days') }},
            to_char(100 * threshold, 'FM990.0')
        ) as message,
        jsonb_build_object(
            'events', events,
            'lines', lines,
            'baseline_events', baseline_events,
            'baseline_lines', baseline_lines,
            'baseline_days', {{ var('alert_baseline_days') }}
        ) as details
    from rate_thresholds
    where
        lines >= {{ var('alert_min_lines') }}
        and events >= {{ var('alert_min_events') }}
        and baseline_lines >= {{ var('alert_min_baseline_lines') }}
        and observed >= threshold

),

high_severity_hours as (

    select current_hours.*
    from current_hours
    where current_hours.high_severity_lines >= {{ var('alert_high_severity_min_lines') }}

),

high_severity_alerts as (

    select
        {{ alert_kind('high_severity_anomaly') }} as alert_kind,
        concat_ws(
            '|', high_severity_hours.service, extract(epoch from high_severity_hours.hour)::bigint
        ) as subject,
        high_severity_hours.service,
        high_severity_hours.hour as window_start,
        high_severity_hours.hour + interval '1 hour' as window_end,
        high_severity_hours.high_severity_lines::float8 as observed,
        null::float8 as baseline,
        {{ var('alert_high_severity_min_lines') }}::float8 as threshold,
        'high' as severity,
        format(
            '%s high-severity lines of %s on %s in the hour from %s UTC; worst %s',
            high_severity_hours.high_severity_lines,
            high_severity_hours.lines,
            high_severity_hours.service,
            to_char(high_severity_hours.hour at time zone 'UTC', 'YYYY-MM-DD HH24:MI'),
            {{ alert_line('worst') }}
        ) as message,
        jsonb_build_object(
            'high_severity_lines', high_severity_hours.high_severity_lines,
            'lines', high_severity_hours.lines,
            'worst_log_entry_id', worst.log_entry_id,
            'worst_logged_at', worst.logged_at,
            'worst_anomaly_score', worst.anomaly_score,
            'worst_message', worst.message
        ) as details
    from high_severity_hours
    cross join lateral (
        select
            predictions.log_entry_id,
            predictions.logged_at,
            predictions.anomaly_score,
            predictions.message
        from predictions
        where
            predictions.logged_at >= high_severity_hours.hour
            and predictions.logged_at < high_severity_hours.hour + interval '1 hour'
            and coalesce(predictions.service, '(none)') = high_severity_hours.service
            and predictions.severity in {{ high_severities() }}
        order by predictions.anomaly_score desc nulls last, predictions.log_entry_id asc
        limit 1
    ) as worst

),

drift_alerts as (

    select
        {{ alert_kind('drift') }} as alert_kind,
        concat_ws(
            '|', drift.feature, to_char(drift.current_end at time zone 'UTC', 'YYYY-MM-DD')
        ) as subject,
        null::text as service,
        drift.current_start as window_start,
        drift.current_end as window_end,
        drift.psi as observed,
        null::float8 as baseline,
        {{ var('alert_drift_psi') }}::float8 as threshold,
        case when drift.psi >= 2 * {{ var('alert_drift_psi') }} then 'high' else 'medium' end
            as severity,
        format(
            'Drift of %s: PSI %s over the %s hours of logs to %s UTC against the training '
            'window (threshold %s)',
            drift.feature,
            to_char(drift.psi, 'FM9990.000'),
            {{ var('drift_window_hours') }},
            to_char(drift.current_end at time zone 'UTC', 'YYYY-MM-DD HH24:MI'),
            {{ var('alert_drift_psi') }}
        ) as message,
        jsonb_build_object(
            'feature', drift.feature,
            'psi', drift.psi,
            'baseline_rows', drift.baseline_rows,
            'current_rows', drift.current_rows,
            'training_start', drift.training_start,
            'training_end', drift.training_end
        ) as details
    from drift
    where drift.psi > {{ var('alert_drift_psi') }}

),

-- A line the detector flags whose template is new for its service (template_lines = 0: the
-- first line of that service and template the version scored). Keyed by service and
-- template, not by version: a template alerts once, whichever version flags it first.
new_template_alerts as (

    -- the first flagged line of each: lines of one run do not count each other, so a new
    -- template can have several lines with template_lines = 0
    select distinct on (coalesce(predictions.service, ''), predictions.template_hash)
        {{ alert_kind('new_anomalous_template') }} as alert_kind,
        concat_ws('|', coalesce(predictions.service, ''), predictions.template_hash) as subject,
        predictions.service,
        predictions.logged_at as window_start,
        predictions.logged_at as window_end,
        predictions.anomaly_score as observed,
        null::float8 as baseline,
        null::float8 as threshold,
        'high' as severity,
        format(
            'New anomalous line on %s at %s UTC %s',
            coalesce(predictions.service, '(no service)'),
            to_char(predictions.logged_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS'),
            {{ alert_line('predictions') }}
        ) as message,
        jsonb_build_object(
            'log_entry_id', predictions.log_entry_id,
            'logged_at', predictions.logged_at,
            'template_hash', predictions.template_hash,
            'service_lines', predictions.service_lines,
            'anomaly_score', predictions.anomaly_score,
            'explanation', predictions.explanation
        ) as details,
        false as per_version
    from predictions
    where
        predictions.is_anomaly
        and predictions.template_lines = 0
        and predictions.predicted_at > (select bounds.watermark from bounds)
    order by
        coalesce(predictions.service, ''), predictions.template_hash, predictions.logged_at,
        predictions.log_entry_id

),

alerts as (

    select
        high_severity_alerts.*,
        true as per_version
    from high_severity_alerts
    union all
    select
        rate_alerts.*,
        true as per_version
    from rate_alerts
    union all
    select
        drift_alerts.*,
        true as per_version
    from drift_alerts
    union all
    select * from new_template_alerts

),

keyed as (

    select
        alerts.*,
        md5(
            concat_ws('|', alerts.alert_kind, alerts.subject)
            || case when alerts.per_version then '|' || '{{ active.version }}' else '' end
        ) as alert_key
    from alerts

)

-- The statement's own SELECT, not `final as (...) select * from final`: on Citus
-- (docs/internals/scale.md) that last CTE became a subplan reading the `alerts` subplan's
-- result, which Citus 13.2 did not find ("could not find the intermediate result file", a
-- warning) and read as no rows.
select
    alerts.alert_key,
    alerts.alert_kind,
    '{{ active.version }}'::text as model_version,
    alerts.service,
    alerts.window_start,
    alerts.window_end,
    alerts.observed,
    alerts.baseline,
    alerts.threshold,
    alerts.severity,
    format('[logml %s] %s', '{{ active.version }}', alerts.message) as message,
    alerts.details,
    now() as detected_at,
    (select max(changed_slices.last_predicted_at) from changed_slices) as source_predicted_at
from keyed as alerts
{% if is_incremental() -%}
where not exists (
        select 1
        from {{ this }} as raised
        where raised.alert_key = alerts.alert_key
    )
{%- endif %}
