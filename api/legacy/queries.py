"""The SQL of the old frontend's endpoints. Totals come from the pre-aggregated tables
(ml_status, ml_stats_windows, ml_stats_hourly, ml_model_health, ml_drift, ml_alerts); lists
of log lines read ml_predictions through its (model_version, logged_at) index, newest first,
with a LIMIT, never a scan. Lists are built as JSON by PostgreSQL (Database.fetch_json).
Windows end at the newest hour the active version scored (ml_stats_windows), not at now():
logs may be historical."""

from __future__ import annotations

from psycopg import sql

from api.queries import ACTIVE_VERSION as ACTIVE
from dbt_project.vocabulary import VOCABULARY

# action=analyze: the newest 100 predictions of the active version: count, JSON array.
ANALYZE = f"""
select count(*), coalesce(json_agg(json_build_object(
    'id', p.log_entry_id, 'log_entry_id', p.log_entry_id, 'predicted_level', p.predicted_level,
    'level_confidence', p.level_confidence, 'is_anomaly', p.is_anomaly,
    'anomaly_score', p.anomaly_score, 'severity', p.severity, 'predicted_at', p.predicted_at,
    'log_id', p.log_id, 'message', logml_redact(p.message), 'actual_level', p.logged_level
) order by p.logged_at desc, p.log_entry_id desc), '[]')::text
from (
    select *
    from ml_predictions
    where model_version = {ACTIVE}
    order by logged_at desc, log_entry_id desc
    limit 100
) as p
"""

# The bounds of a window of ml_stats_windows for the active version.
_BOUNDS = f"""
bounds as (
    select distinct window_start, window_end, model_version
    from ml_stats_windows
    where window_name = %(window)s and model_version = {ACTIVE}
)"""

# One row per severity of the window (the old `stats` and the /api/metrics inputs).
WINDOW = f"""
select severity, predictions, anomalies, window_start, window_end
from ml_stats_windows
where window_name = %(window)s and model_version = {ACTIVE}
"""

# Predictions per logged level over a window ('(unknown)': no level in the source).
LOGGED_LEVELS = f"""
with {_BOUNDS}
select h.logged_level, sum(h.predictions)::bigint as predictions
from ml_stats_hourly as h
join bounds as b on h.model_version = b.model_version
where h.hour >= b.window_start and h.hour < b.window_end
group by h.logged_level
"""

# Every hour of the 24h window (zero when nothing was logged), for the log-volume chart.
HOURLY_VOLUME = f"""
with {_BOUNDS},
hours as (
    select h.hour, sum(h.predictions)::bigint as predictions
    from ml_stats_hourly as h
    join bounds as b on h.model_version = b.model_version
    where h.hour >= b.window_start and h.hour < b.window_end
    group by h.hour
)
select slot.hour, coalesce(hours.predictions, 0) as predictions
from bounds
cross join generate_series(
    bounds.window_start, bounds.window_end - interval '1 hour', interval '1 hour'
) as slot (hour)
left join hours on hours.hour = slot.hour
order by slot.hour
"""

# The hours of a window that have response times (ml_response_times_hourly), oldest first.
RESPONSE_TIMES = f"""
with {_BOUNDS}
select r.hour, r.timed_lines, r.response_time_ms_sum, r.avg_response_time_ms,
       r.p95_response_time_ms
from ml_response_times_hourly as r
join bounds as b on r.model_version = b.model_version
where r.hour >= b.window_start and r.hour < b.window_end and r.timed_lines > 0
order by r.hour
"""

# Everything the service-health tree (and the old Analytics page's systemMetrics) is derived
# from, in one round trip.
HEALTH_INPUTS = f"""
select
    (select total_predictions from ml_status limit 1) as total_predictions,
    freshness.scoring_behind,
    freshness.unscored_logs,
    freshness.unscored_logs_capped,
    newest_day.day as health_day,
    newest_day.agreement_rate,
    (select max(psi) from ml_drift where model_version = {ACTIVE}) as max_psi,
    (select count(*) from ml_drift where model_version = {ACTIVE}) as drift_features,
    alerts.alerts_24h,
    alerts.high_alerts_24h
from (
    select max(day) as day,
           sum(agreements)::float8 / nullif(sum(known_level_predictions), 0)::float8
               as agreement_rate
    from ml_model_health
    where model_version = {ACTIVE}
      and day = (select max(day) from ml_model_health where model_version = {ACTIVE})
) as newest_day
cross join (
    select count(*) as alerts_24h,
           count(*) filter (where a.severity = 'high') as high_alerts_24h
    from ml_alerts as a
    where a.model_version = {ACTIVE}
      and a.window_end > (
          select max(window_end) - interval '24 hours' from ml_stats_windows
          where model_version = {ACTIVE}
      )
) as alerts
cross join ml_log_freshness as freshness
"""

_WINDOW_START = f"""(
    select max(window_start) from ml_stats_windows
    where window_name = %(window)s and model_version = {ACTIVE}
)"""
# Every window ends at the end of the newest hour scored.
_WINDOW_END = f"(select max(window_end) from ml_stats_windows where model_version = {ACTIVE})"

# Lines for the Monitoring page: columns named as the old monitoring endpoint served them.
_LINE = """json_build_object(
    'log_entry_id', p.log_entry_id, 'log_id', p.log_id, 'timestamp', p.logged_at,
    'level', coalesce(p.logged_level, p.predicted_level),
    'message', logml_redact(coalesce(p.message, '')), 'actual_level', p.logged_level,
    'predicted_level', p.predicted_level,
    'is_anomaly', p.is_anomaly, 'anomaly_score', p.anomaly_score, 'severity', p.severity,
    'predicted_at', p.predicted_at, 'source_type', p.source_type, 'host', p.host,
    'service', p.service, 'response_time_ms', null, 'http_status', null
)"""


def window_lines(condition: str, limit: int) -> str:
    """The newest `limit` lines of the 24h window that meet `condition` (a fixed fragment),
    as a JSON array. The bounds are scalar subqueries (computed once, before the scan), so
    the scan walks the (model_version, logged_at) index backwards and stops at the limit; a
    join to the bounds would sort the whole window first."""
    return f"""
select coalesce(json_agg({_LINE} order by p.logged_at desc, p.log_entry_id desc), '[]')::text
from (
    select m.*
    from ml_predictions as m
    where m.model_version = {ACTIVE}
      and m.logged_at >= {_WINDOW_START} and m.logged_at < {_WINDOW_END}
      and ({condition})
    order by m.logged_at desc, m.log_entry_id desc
    limit {int(limit)}
) as p
"""


# high_severity: what the old monitoring endpoint listed as "ml_alerts" (anomalies). The
# vocabulary's names are [a-z0-9_] only (dbt_project/vocabulary.py), safe inside quotes.
_HIGH_SEVERITIES = ", ".join(f"'{name}'" for name in VOCABULARY.high_severities)
MONITORING_ALERTS = window_lines(f"m.severity in ({_HIGH_SEVERITIES})", 25)
MONITORING_INCIDENTS = window_lines("m.logged_level in ('ERROR', 'FATAL')", 50)
MONITORING_LINES = f"select ({MONITORING_ALERTS}), ({MONITORING_INCIDENTS})"

# The Monitoring page's figures: database size, logs scored in total, in 1h and in 24h.
MONITORING_TOTALS = f"""
select pg_database_size(current_database()) as size_bytes,
       pg_size_pretty(pg_database_size(current_database())) as size_formatted,
       (select total_predictions from ml_status limit 1) as total_predictions,
       (select coalesce(sum(predictions), 0) from ml_stats_windows
        where window_name = '1h' and model_version = {ACTIVE}) as per_hour,
       (select coalesce(sum(predictions), 0) from ml_stats_windows
        where window_name = '24h' and model_version = {ACTIVE}) as per_day
"""

# Before the pipeline ran: the size alone (the tables above do not exist).
DATABASE_SIZE = """
select pg_database_size(current_database()) as size_bytes,
       pg_size_pretty(pg_database_size(current_database())) as size_formatted,
       0 as total_predictions, 0 as per_hour, 0 as per_day
"""

# /api/logs: the conditions a request may add; values always travel as parameters.
LOG_FILTERS: dict[str, str] = {
    "level": "coalesce(logged_level, predicted_level) = %(level)s",
    "source": "lower(source_type) = lower(%(source)s)",
    # a substring, not a pattern: % and _ in the search text are escaped by the caller; of the
    # text as served, so a search cannot tell what a redacted secret was
    "search": "logml_redact(message) ilike %(search)s",
}


def logs_page(filters: dict[str, object]) -> sql.Composed:
    """One page of /api/logs, newest first, as a JSON array: the last `hours` hours before the
    end of the newest hour scored, and the filters that are set (only fixed fragments enter
    the SQL text). Bounds as scalar subqueries, as in window_lines."""
    conditions = [
        sql.SQL(
            f"m.logged_at >= {_WINDOW_END} - make_interval(hours => %(hours)s)"
            f" and m.logged_at < {_WINDOW_END}"
        )
    ]
    conditions += [sql.SQL(LOG_FILTERS[name]) for name in LOG_FILTERS if filters.get(name)]
    return sql.SQL(
        """
select coalesce(json_agg(json_build_object(
    'id', p.log_entry_id::text, 'timestamp', p.logged_at,
    'level', coalesce(p.logged_level, p.predicted_level),
    'level_source', case when p.logged_level is null then 'predicted' else 'logged' end,
    'message', logml_redact(coalesce(p.message, '')), 'source', p.source_type,
    'responseTime', null,
    'host', p.host, 'service', p.service, 'category', null, 'tags', '[]'::json,
    'isAnomaly', p.is_anomaly, 'sessionId', null, 'ipAddress', null,
    'predicted_level', p.predicted_level, 'severity', p.severity,
    'anomaly_score', p.anomaly_score
) order by p.logged_at desc, p.log_entry_id desc), '[]')::text
from (
    select m.*
    from ml_predictions as m
    where m.model_version = {active} and {where}
    order by m.logged_at desc, m.log_entry_id desc
    limit %(limit)s offset %(offset)s
) as p
"""
    ).format(active=sql.SQL(ACTIVE), where=sql.SQL(" and ").join(conditions))


# /api/logs counts per (logged, predicted) level over the last `hours` hours before the end of
# the newest hour scored: the whole days inside the window from ml_model_health (a day's
# confusion counts: one row per service), the hours at either edge from ml_stats_hourly.
# Exact, and bounded: 30 days of hourly rows would be ~70,000 rows, this reads ~400 + ~4,000.
# (Assumes 24-hour days in ml_model_health: a dbt session in UTC or a zone without DST.)
LOG_LEVEL_COUNTS = f"""
with days as (
    select m.day, m.confusion
    from ml_model_health as m
    where m.model_version = {ACTIVE}
      and m.day >= {_WINDOW_END} - make_interval(hours => %(hours)s)
      and m.day + interval '1 day' <= {_WINDOW_END}
),
covered as (
    select coalesce(min(day), {_WINDOW_END}) as first_day,
           coalesce(max(day) + interval '1 day', {_WINDOW_END}) as after_last_day
    from days
),
edges as (
    select h.logged_level, h.predicted_level, h.predictions
    from ml_stats_hourly as h
    where h.model_version = {ACTIVE}
      and h.hour >= {_WINDOW_END} - make_interval(hours => %(hours)s)
      and h.hour < (select first_day from covered)
    union all
    select h.logged_level, h.predicted_level, h.predictions
    from ml_stats_hourly as h
    where h.model_version = {ACTIVE}
      and h.hour >= (select after_last_day from covered)
      and h.hour < {_WINDOW_END}
),
whole_days as (
    select split_part(pair.key, '->', 1) as logged_level,
           split_part(pair.key, '->', 2) as predicted_level, pair.value::bigint as predictions
    from days
    cross join lateral jsonb_each_text(days.confusion) as pair
)
select logged_level, predicted_level, sum(predictions)::bigint as predictions
from (select * from edges union all select * from whole_days) as parts
group by 1, 2
"""

# POST /api/ml: the active version's predictions of the given logs (unique index lookups).
PREDICTIONS_OF = f"""
select count(*), coalesce(json_agg(json_build_object(
    'log_id', p.log_entry_id::text, 'classification', p.predicted_level,
    'confidence', p.level_confidence, 'anomaly_score', p.anomaly_score,
    'is_anomaly', p.is_anomaly, 'severity', p.severity, 'timestamp', p.predicted_at,
    'source', 'ml_predictions_table'
) order by array_position(%(ids)s::bigint[], p.log_entry_id)), '[]')::text
from ml_predictions as p
where p.model_version = {ACTIVE} and p.log_entry_id = any(%(ids)s::bigint[])
"""
