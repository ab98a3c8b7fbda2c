{#-
  One row per alert about the ACTIVE model version (the challenger scores in shadow mode and
  never alerts), appended and never rewritten: the notifier (`python -m alerts notify`) sends
  each row once. Rules, one per kind of var alert_kinds (docs/concepts/alerts.md):
  - incident_opened: an incident of ml_incidents seen for the first time (one per incident;
    its message says when it was already over by then).
  - incident_escalated: its severity rose above the one it was opened with (one per incident
    and severity).
  - incident_resolved: it resolved in a later run than the one that opened it (one per
    incident).
  - drift: ml_drift features whose PSI exceeds alert_drift_psi, all in one alert (at most one
    per day of the newest scored hour).
  alert_key is an md5 of what the alert is about (its kind and the incident, with the severity
  reached for an escalation; or day and version for drift), never of when it was
  found, so reruns and full refreshes produce the same keys and the anti-join below (backed by
  a unique index) inserts each alert once.

  Incremental: only the ml_incidents rows written after the newest `source_predicted_at`
  already stored (the incidents' own last_predicted_at) are read.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
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

incidents as (

    select * from {{ ref('ml_incidents') }}
    where model_version = '{{ active.version }}'

),

drift as (

    select * from {{ ref('ml_drift') }}
    where model_version = '{{ active.version }}'

),

bounds as (

    select {{ incremental_watermark('source_predicted_at') }} as watermark

),

changed as (

    select
        incidents.*,
        -- a drop or silence has no template lines: its emptiest bucket speaks for it
        case
            when incidents.template_count > 0 then incidents.lines else incidents.peak_lines
        end::float8 as observed,
        case
            when incidents.template_count > 0 then incidents.expected
            else incidents.peak_expected
        end as baseline,
        jsonb_build_object(
            'incident_id', incidents.incident_id,
            'state', incidents.state,
            'signals', incidents.signals,
            'started_at', incidents.started_at,
            'last_seen_at', incidents.last_seen_at,
            'lines', incidents.lines,
            'expected', incidents.expected,
            'peak_bucket', incidents.peak_bucket,
            'peak_lines', incidents.peak_lines,
            'peak_expected', incidents.peak_expected,
            'templates', incidents.templates,
            'hosts', incidents.hosts,
            'terms', incidents.terms
        ) as details
    from incidents
    where incidents.last_predicted_at > (select bounds.watermark from bounds)

),

incident_alerts as (

    select
        {{ alert_kind('incident_opened') }} as alert_kind,
        changed.incident_id as subject,
        changed.service,
        changed.started_at as window_start,
        changed.last_seen_at as window_end,
        changed.observed,
        changed.baseline,
        null::float8 as threshold,
        changed.opened_severity as severity,
        format(
            'Incident on %s (%s%s): %s',
            changed.service,
            changed.opened_severity,
            case when changed.resolved_at = changed.detected_at then ', already over' else '' end,
            changed.title
        ) as message,
        changed.details
    from changed
    union all
    select
        {{ alert_kind('incident_escalated') }} as alert_kind,
        concat_ws('|', changed.incident_id, changed.severity) as subject,
        changed.service,
        changed.started_at as window_start,
        changed.last_seen_at as window_end,
        changed.observed,
        changed.baseline,
        null::float8 as threshold,
        changed.severity,
        format(
            'Incident on %s escalated from %s to %s: %s',
            changed.service, changed.opened_severity, changed.severity, changed.title
        ) as message,
        changed.details
    from changed
    where changed.severity <> changed.opened_severity
    union all
    select
        {{ alert_kind('incident_resolved') }} as alert_kind,
        changed.incident_id as subject,
        changed.service,
        changed.started_at as window_start,
        changed.ended_at as window_end,
        changed.observed,
        changed.baseline,
        null::float8 as threshold,
        changed.severity,
        format(
            'Incident on %s resolved, %s to %s UTC: %s',
            changed.service,
            to_char(changed.started_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI'),
            to_char(changed.ended_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI'),
            changed.title
        ) as message,
        changed.details
    from changed
    where changed.state = 'resolved' and changed.resolved_at > changed.detected_at

),

-- one alert for every input that drifted, not one per input: a shift of the logs moves several
-- features at once, and it is one thing for the on-call engineer to look at
drift_alerts as (

    select
        {{ alert_kind('drift') }} as alert_kind,
        to_char(drifted.current_end at time zone 'UTC', 'YYYY-MM-DD') as subject,
        null::text as service,
        drifted.current_start as window_start,
        drifted.current_end as window_end,
        max(drifted.psi) as observed,
        null::float8 as baseline,
        {{ var('alert_drift_psi') }}::float8 as threshold,
        case when max(drifted.psi) >= 2 * {{ var('alert_drift_psi') }} then 'high' else 'medium' end
            as severity,
        format(
            'Drift of %s: PSI %s over the %s hours of logs to %s UTC against the training '
            'window (threshold %s)',
            string_agg(drifted.feature, ', ' order by drifted.psi desc, drifted.feature asc),
            string_agg(
                to_char(drifted.psi, 'FM9990.000'),
                ', ' order by drifted.psi desc, drifted.feature asc
            ),
            {{ var('drift_window_hours') }},
            to_char(drifted.current_end at time zone 'UTC', 'YYYY-MM-DD HH24:MI'),
            {{ var('alert_drift_psi') }}
        ) as message,
        jsonb_build_object(
            'features', jsonb_object_agg(drifted.feature, drifted.psi),
            'baseline_rows', max(drifted.baseline_rows),
            'current_rows', max(drifted.current_rows),
            'training_start', drifted.training_start,
            'training_end', drifted.training_end
        ) as details
    from drift as drifted
    where drifted.psi > {{ var('alert_drift_psi') }}
    group by
        drifted.current_start,
        drifted.current_end,
        drifted.training_start,
        drifted.training_end

),

alerts as (

    select
        incident_alerts.*,
        false as per_version
    from incident_alerts
    union all
    select
        drift_alerts.*,
        true as per_version
    from drift_alerts

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
    (select max(changed.last_predicted_at) from changed) as source_predicted_at
from keyed as alerts
{% if is_incremental() -%}
where not exists (
        select 1
        from {{ this }} as raised
        where raised.alert_key = alerts.alert_key
    )
{%- endif %}
