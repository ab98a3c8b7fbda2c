{#-
  One row per incident: the unusual buckets of one service (ml_template_buckets: bursts and new
  or rare templates; ml_service_buckets: drops and silences) at most var
  incident_quiet_minutes apart, grouped (docs/concepts/incidents.md).
  - Opened by trouble: a group becomes an incident only when one of its buckets is a drop, or
    holds mostly WARN/ERROR/FATAL lines (or a template labelled anomalous); other unusual
    buckets join an incident they fall in, and open none.
  - Extended, not raised again: a run's unusual buckets within the quiet gap of a stored
    incident of their service join it (same incident_id: md5 of version, service and its first
    bucket).
  - Resolved once the version has scored lines var incident_quiet_minutes past the end of its
    last unusual bucket; resolved stays resolved. Severity: high when a bucket is mostly
    ERROR/FATAL lines or a silence, else medium; it only rises (an escalation).
  - What it holds: its span, lines against their baseline, the peak bucket, the templates
    (top 5, with an example line each), and its influencers: the hosts and terms of its lines
    over-represented against the service's other lines of the same buckets (the incident's
    newest var incident_lookback_hours).
  Incremental: only unusual buckets judged since the newest `last_predicted_at` stored (index
  on each bucket table's last_predicted_at) and the open incidents are read; rows are written
  for the incidents they touch and for those that resolve (upsert by incident_id). Never rebuilt
  by --full-refresh: incidents are history, and ml_alerts has spoken of them. Under a retention
  (var retention) a resolved incident goes with its last bucket (macros/retention.sql).
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='upsert',
        unique_key=['incident_id'],
        full_refresh=false,
        pre_hook=["{{ serialize_runs('ml_incidents') }}"],
        post_hook=[
            "{{ retention_incidents_cleanup(this, 'last_bucket', resolved_only=true) }}",
            {
                "sql": "{{ create_index_if_missing(this, 'ml_incidents_uidx', ['incident_id'],
                        unique=true) }}",
                "transaction": false,
            },
            {
                "sql": "{{ create_index_if_missing(this, 'ml_incidents_service_idx',
                        ['model_version', 'service', 'last_bucket']) }}",
                "transaction": false,
            },
            {
                "sql": "{{ create_index_if_missing(this, 'ml_incidents_started_at_idx',
                        ['model_version', 'started_at']) }}",
                "transaction": false,
            },
        ],
    )
}}

-- depends_on: {{ source('registry', 'ml_model_registry') }} (the retention's versions)

{%- set bucket = incident_bucket_interval() -%}
{%- set quiet = "interval '" ~ var('incident_quiet_minutes') ~ " minutes'" -%}
{%- set lookback = "interval '" ~ var('incident_lookback_hours') ~ " hours'" %}

with

-- The tables read more than once are not materialized: each read uses their indexes (a
-- materialized CTE has none, and the planner's row estimates for it are blind).
template_buckets as not materialized (

    select * from {{ ref('ml_template_buckets') }}

),

service_buckets as not materialized (

    select * from {{ ref('ml_service_buckets') }}

),

predictions as not materialized (

    select * from {{ ref('ml_predictions') }}

),

stored as not materialized (

    {{ incremental_stored() }}

),

watermark as (

    select {{ incremental_watermark('last_predicted_at') }} as last_read_at

),

-- the unusual buckets judged since the last run that wrote here
new_cells as (

    select
        template_buckets.model_version,
        template_buckets.service,
        template_buckets.bucket_start,
        template_buckets.trouble_lines * 2 >= template_buckets.lines
        or template_buckets.label = 'anomalous' as trouble
    from template_buckets
    where
        template_buckets.is_unusual
        and template_buckets.last_predicted_at > (select watermark.last_read_at from watermark)
    union all
    select
        service_buckets.model_version,
        service_buckets.service,
        service_buckets.bucket_start,
        true as trouble
    from service_buckets
    where
        service_buckets.is_drop
        and service_buckets.last_predicted_at > (select watermark.last_read_at from watermark)

),

-- stored incidents that new buckets fall into or next to
nearby as (

    select
        stored.incident_id,
        stored.model_version,
        stored.service,
        stored.first_bucket,
        stored.last_bucket
    from stored
    where exists (
            select 1
            from new_cells
            where
                new_cells.model_version = stored.model_version
                and new_cells.service = stored.service
                and new_cells.bucket_start >= stored.first_bucket - {{ bucket }} - {{ quiet }}
                and new_cells.bucket_start <= stored.last_bucket + {{ bucket }} + {{ quiet }}
        )

),

-- spans to group: each new bucket, and each nearby stored incident whole (its buckets may lie
-- further apart than the quiet gap, yet they are one incident)
points as (

    select
        new_cells.model_version,
        new_cells.service,
        new_cells.bucket_start,
        new_cells.bucket_start as bucket_end,
        bool_or(new_cells.trouble) as trouble,
        null::text as incident_id
    from new_cells
    group by new_cells.model_version, new_cells.service, new_cells.bucket_start
    union all
    select
        nearby.model_version,
        nearby.service,
        nearby.first_bucket as bucket_start,
        nearby.last_bucket as bucket_end,
        true as trouble,
        nearby.incident_id
    from nearby

),

-- a span starts a group when it begins more than the quiet gap after every earlier one ends
gaps as (

    select
        points.*,
        case
            when
                points.bucket_start - max(points.bucket_end) over (
                    partition by points.model_version, points.service
                    order by points.bucket_start, points.incident_id
                    rows between unbounded preceding and 1 preceding
                ) > {{ bucket }} + {{ quiet }}
                then 1
            else 0
        end as starts_group
    from points

),

groups as (

    select
        gaps.*,
        sum(gaps.starts_group) over (
            partition by gaps.model_version, gaps.service
            order by gaps.bucket_start, gaps.incident_id
            rows unbounded preceding
        ) as group_number
    from gaps

),

-- each group with trouble (a stored incident counts as trouble) is an incident
touched as (

    select
        coalesce(
            min(groups.incident_id),
            md5(concat_ws(
                '|', groups.model_version, groups.service,
                extract(epoch from min(groups.bucket_start))::bigint
            ))
        ) as incident_id,
        groups.model_version,
        groups.service,
        min(groups.bucket_start) as first_bucket,
        max(groups.bucket_end) as last_bucket
    from groups
    group by groups.model_version, groups.service, groups.group_number
    having bool_or(groups.trouble)

),

recompute as (

    select touched.*
    from touched
    union all
    -- open incidents nothing new touched: they may resolve
    select
        stored.incident_id,
        stored.model_version,
        stored.service,
        stored.first_bucket,
        stored.last_bucket
    from stored
    where
        stored.state = 'open'
        and not exists (
            select 1 from touched
            where touched.incident_id = stored.incident_id
        )

),

-- per version: its newest line, and the newest prediction counted (this run's watermark)
newest as (

    select
        versions.model_version,
        latest.last_logged_at as newest_logged_at,
        latest.last_predicted_at as run_predicted_at
    from (select distinct recompute.model_version from recompute) as versions
    cross join lateral (
        select
            service_buckets.last_logged_at,
            service_buckets.last_predicted_at
        from service_buckets
        where service_buckets.model_version = versions.model_version and service_buckets.lines > 0
        order by service_buckets.bucket_start desc
        limit 1
    ) as latest

),

incident_cells as (

    select
        recompute.incident_id,
        recompute.model_version,
        template_buckets.bucket_start,
        template_buckets.template_hash,
        template_buckets.lines,
        template_buckets.expected,
        template_buckets.tail_probability,
        template_buckets.first_logged_at,
        template_buckets.last_logged_at,
        template_buckets.example_log_entry_id,
        template_buckets.history_lines = 0 as is_new,
        template_buckets.error_lines * 2 >= template_buckets.lines as is_high,
        case
            when template_buckets.label = 'anomalous' then 'labelled'
            when template_buckets.history_lines = 0 then 'new_template'
            else 'burst'
        end as signal
    from recompute
    inner join template_buckets
        on {{ incident_span_holds('recompute', 'template_buckets') }}
    where template_buckets.is_unusual
    union all
    select
        recompute.incident_id,
        recompute.model_version,
        service_buckets.bucket_start,
        '' as template_hash,
        service_buckets.lines,
        service_buckets.expected,
        service_buckets.tail_probability,
        service_buckets.bucket_start as first_logged_at,
        service_buckets.bucket_start + {{ bucket }} as last_logged_at,
        null::bigint as example_log_entry_id,
        false as is_new,
        service_buckets.lines = 0 as is_high,
        case when service_buckets.lines = 0 then 'silence' else 'drop' end as signal
    from recompute
    inner join service_buckets
        on {{ incident_span_holds('recompute', 'service_buckets') }}
    where service_buckets.is_drop

),

summary as (

    select
        incident_cells.incident_id,
        min(incident_cells.first_logged_at) as started_at,
        max(incident_cells.last_logged_at) as last_seen_at,
        count(distinct incident_cells.bucket_start)::integer as buckets,
        coalesce(sum(incident_cells.lines) filter (where incident_cells.template_hash <> ''), 0)
        ::bigint as lines,
        coalesce(
            sum(incident_cells.expected) filter (where incident_cells.template_hash <> ''), 0
        ) as expected,
        count(distinct incident_cells.template_hash)
        filter (where incident_cells.template_hash <> '')::integer as template_count,
        min(incident_cells.tail_probability) as min_tail_probability,
        bool_or(incident_cells.is_high) as is_high,
        array_agg(distinct incident_cells.signal order by incident_cells.signal) as signals
    from incident_cells
    group by incident_cells.incident_id

),

-- the bucket with the most lines of its unusual templates (for a drop alone: the emptiest)
peaks as (

    select distinct on (per_bucket.incident_id)
        per_bucket.incident_id,
        per_bucket.bucket_start as peak_bucket,
        per_bucket.lines as peak_lines,
        per_bucket.expected as peak_expected
    from (
        select
            incident_cells.incident_id,
            incident_cells.bucket_start,
            bool_or(incident_cells.template_hash <> '') as has_templates,
            coalesce(
                sum(incident_cells.lines) filter (where incident_cells.template_hash <> ''),
                sum(incident_cells.lines)
            )::bigint as lines,
            coalesce(
                sum(incident_cells.expected) filter (where incident_cells.template_hash <> ''),
                sum(incident_cells.expected)
            ) as expected
        from incident_cells
        group by incident_cells.incident_id, incident_cells.bucket_start
    ) as per_bucket
    order by
        per_bucket.incident_id asc,
        per_bucket.has_templates desc,
        case when per_bucket.has_templates then -per_bucket.lines else per_bucket.lines end,
        per_bucket.bucket_start asc

),

template_totals as (

    select
        incident_cells.incident_id,
        incident_cells.model_version,
        incident_cells.template_hash,
        sum(incident_cells.lines)::bigint as lines,
        sum(incident_cells.expected) as expected,
        count(*)::integer as buckets,
        bool_or(incident_cells.is_new) as is_new,
        max(incident_cells.example_log_entry_id) as example_log_entry_id,
        row_number() over (
            partition by incident_cells.incident_id
            order by sum(incident_cells.lines) desc, incident_cells.template_hash
        ) as rank
    from incident_cells
    where incident_cells.template_hash <> ''
    group by incident_cells.incident_id, incident_cells.model_version, incident_cells.template_hash

),

top_templates as (

    select
        template_totals.*,
        examples.logged_at as example_logged_at,
        examples.host as example_host,
        -- redacted here (macros/redaction.sql) before the title and the templates cut it short,
        -- so a cut cannot leave half a secret that no rule recognises
        {{ logml_redacted('examples.message') }} as example_message
    from template_totals
    left join predictions as examples
        on
            template_totals.model_version = examples.model_version
            and template_totals.example_log_entry_id = examples.log_entry_id
    where template_totals.rank <= 5

),

templates as (

    select
        top_templates.incident_id,
        jsonb_agg(
            jsonb_build_object(
                'template_hash', top_templates.template_hash,
                'lines', top_templates.lines,
                'expected', round(top_templates.expected::numeric, 3),
                'buckets', top_templates.buckets,
                'new', top_templates.is_new,
                'example', jsonb_build_object(
                    'log_entry_id', top_templates.example_log_entry_id,
                    'logged_at', top_templates.example_logged_at,
                    'host', top_templates.example_host,
                    'message', left(top_templates.example_message, 300)
                )
            )
            order by top_templates.rank
        ) as templates,
        min(top_templates.example_message) filter (where top_templates.rank = 1) as top_example
    from top_templates
    group by top_templates.incident_id

),

-- influencers: the service's lines in the incident's newest buckets with unusual templates,
-- each marked as the incident's (its template is unusual in that bucket) or not
influence_buckets as (

    select distinct
        recompute.incident_id,
        recompute.model_version,
        recompute.service,
        incident_cells.bucket_start
    from recompute
    inner join incident_cells on recompute.incident_id = incident_cells.incident_id
    where
        incident_cells.template_hash <> ''
        and incident_cells.bucket_start > recompute.last_bucket - {{ lookback }}

),

bucket_lines as (

    select
        influence_buckets.incident_id,
        bucket_predictions.log_entry_id,
        bucket_predictions.host,
        bucket_predictions.message,
        exists(
            select 1
            from incident_cells
            where
                incident_cells.incident_id = influence_buckets.incident_id
                and incident_cells.bucket_start = influence_buckets.bucket_start
                and incident_cells.template_hash = bucket_predictions.template_hash
        ) as in_incident
    from influence_buckets
    inner join predictions as bucket_predictions
        on
            influence_buckets.model_version = bucket_predictions.model_version
            and influence_buckets.bucket_start <= bucket_predictions.logged_at
            and bucket_predictions.logged_at < influence_buckets.bucket_start + {{ bucket }}
            and influence_buckets.service = {{ incident_service('bucket_predictions.service') }}

),

line_totals as (

    select
        bucket_lines.incident_id,
        count(*) filter (where bucket_lines.in_incident) as incident_lines,
        count(*) filter (where not bucket_lines.in_incident) as other_lines
    from bucket_lines
    group by bucket_lines.incident_id

),

host_counts as (

    select
        bucket_lines.incident_id,
        bucket_lines.host as value,
        count(*) filter (where bucket_lines.in_incident) as incident_lines,
        count(*) filter (where not bucket_lines.in_incident) as other_lines
    from bucket_lines
    where bucket_lines.host is not null
    group by bucket_lines.incident_id, bucket_lines.host

),

-- a line's distinct words (lower case, 3 to 40 characters, with a letter)
term_counts as (

    select
        bucket_lines.incident_id,
        words.term as value,
        count(*) filter (where bucket_lines.in_incident) as incident_lines,
        count(*) filter (where not bucket_lines.in_incident) as other_lines
    from bucket_lines
    cross join
        lateral (
            select distinct trim(both '.:/-' from token.word) as term
            from regexp_split_to_table(lower(bucket_lines.message), '[\s"''()\[\]{}<>,;=|*]+')
                    as token (word)
        ) as words
    where length(words.term) between 3 and 40 and words.term ~ '[a-z]'
    group by bucket_lines.incident_id, words.term

),

-- over-represented: in at least 3 and a quarter of the incident's lines, and at least twice as
-- common there as in the service's other lines (add-one smoothed)
influencers as (

    select
        counts.incident_id,
        counts.kind,
        jsonb_agg(
            jsonb_build_object(
                'value', counts.value,
                'lines', counts.incident_lines,
                'share', round(counts.share::numeric, 3),
                'baseline_share', round(counts.baseline_share::numeric, 3)
            )
            order by counts.incident_lines desc, counts.value asc
        ) filter (where counts.rank <= counts.keep) as values
    from (
        select
            found.*,
            row_number() over (
                partition by found.incident_id, found.kind
                order by found.incident_lines desc, found.value asc
            ) as rank
        from (
            select
                all_counts.*,
                all_counts.incident_lines::float8 / line_totals.incident_lines as share,
                (all_counts.other_lines + 1)::float8 / (line_totals.other_lines + 1)
                    as baseline_share
            from (
                select
                    host_counts.*,
                    'hosts' as kind,
                    3 as keep
                from host_counts
                union all
                select
                    term_counts.*,
                    'terms' as kind,
                    5 as keep
                from term_counts
            ) as all_counts
            inner join line_totals on all_counts.incident_id = line_totals.incident_id
            where all_counts.incident_lines >= 3
        ) as found
        where found.share >= 0.25 and found.share >= 2 * found.baseline_share
    ) as counts
    group by counts.incident_id, counts.kind

),

incidents as (

    select
        recompute.incident_id,
        recompute.model_version,
        recompute.service,
        case
            when
                stored.state = 'resolved'
                or newest.newest_logged_at >= recompute.last_bucket + {{ bucket }} + {{ quiet }}
                then 'resolved'
            else 'open'
        end as state,
        case
            when summary.is_high or stored.severity = 'high' then 'high' else 'medium'
        end as severity,
        summary.signals,
        summary.started_at,
        summary.last_seen_at,
        recompute.first_bucket,
        recompute.last_bucket,
        summary.buckets,
        summary.lines,
        summary.expected,
        peaks.peak_bucket,
        peaks.peak_lines,
        peaks.peak_expected,
        summary.min_tail_probability,
        summary.template_count,
        coalesce(templates.templates, '[]'::jsonb) as templates,
        templates.top_example,
        coalesce(hosts.values, '[]'::jsonb) as hosts,
        coalesce(terms.values, '[]'::jsonb) as terms,
        stored.opened_severity,
        stored.detected_at,
        stored.resolved_at,
        stored.state as stored_state,
        newest.run_predicted_at
    from recompute
    inner join summary on recompute.incident_id = summary.incident_id
    inner join peaks on recompute.incident_id = peaks.incident_id
    inner join newest on recompute.model_version = newest.model_version
    left join templates on recompute.incident_id = templates.incident_id
    left join influencers as hosts
        on recompute.incident_id = hosts.incident_id and hosts.kind = 'hosts'
    left join influencers as terms
        on recompute.incident_id = terms.incident_id and terms.kind = 'terms'
    left join stored on recompute.incident_id = stored.incident_id

)

-- The statement's own SELECT (not a last CTE): see ml_alerts.sql on Citus subplans.
select
    incidents.incident_id,
    incidents.model_version,
    incidents.service,
    incidents.state,
    incidents.severity,
    coalesce(incidents.opened_severity, incidents.severity) as opened_severity,
    incidents.signals,
    incidents.started_at,
    incidents.last_seen_at,
    case when incidents.state = 'resolved' then incidents.last_seen_at end as ended_at,
    incidents.first_bucket,
    incidents.last_bucket,
    incidents.buckets,
    incidents.lines,
    incidents.expected,
    incidents.peak_bucket,
    incidents.peak_lines,
    incidents.peak_expected,
    incidents.min_tail_probability,
    incidents.template_count,
    incidents.templates,
    incidents.hosts,
    incidents.terms,
    case
        when incidents.template_count = 0
            then format(
                    '%s on %s: %s lines in the %s minutes from %s UTC, against %s expected',
                    case when incidents.peak_lines = 0 then 'silence' else 'drop' end,
                    incidents.service,
                    incidents.peak_lines,
                    {{ var('incident_bucket_minutes') }},
                    to_char(incidents.peak_bucket at time zone 'UTC', 'YYYY-MM-DD HH24:MI'),
                    round(incidents.peak_expected::numeric, 1)
                )
        else format(
                '%s lines of %s unusual template(s) on %s since %s UTC (%s expected); '
                'peak %s in the %s minutes from %s against %s; top: %s',
                incidents.lines,
                incidents.template_count,
                incidents.service,
                to_char(incidents.started_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI'),
                round(incidents.expected::numeric, 1),
                incidents.peak_lines,
                {{ var('incident_bucket_minutes') }},
                to_char(incidents.peak_bucket at time zone 'UTC', 'HH24:MI'),
                round(incidents.peak_expected::numeric, 1),
                left(regexp_replace(incidents.top_example, '\s+', ' ', 'g'), 160)
            )
    end as title,
    coalesce(incidents.detected_at, now()) as detected_at,
    now() as updated_at,
    case
        when incidents.state = 'resolved' then coalesce(incidents.resolved_at, now())
    end as resolved_at,
    incidents.run_predicted_at as last_predicted_at
from incidents
where
    exists (
        select 1 from touched
        where touched.incident_id = incidents.incident_id
    )
    or incidents.state is distinct from incidents.stored_state
