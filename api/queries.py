"""Every SQL statement the API runs (the incidents' beside their endpoints: api/incidents.py).
All are SELECTs on the dbt output tables (schema on the search_path, see database.py), all
parameterised; status and stats read the pre-aggregated tables only, never a COUNT over
ml_predictions. Text that comes from the logs (messages, explanations, examples, alert details,
an incident's title, templates and terms) leaves through the database's redaction functions
(macros/redaction.sql), applied where the rows are put into JSON: after the LIMIT, so only
the rows served pay for it."""

from __future__ import annotations

from typing import Any

from psycopg import sql

from alerts.alert import COLUMNS as ALERT_COLUMNS

# The active model version: the one the registry names now (ml_status is a view over the
# roles), so every query agrees with ml_model_versions right after a role change.
ACTIVE_VERSION = "(select active_model_version from ml_status limit 1)"
# The model version a request means when it names none: the active one.
_VERSION = f"coalesce(%(model_version)s, {ACTIVE_VERSION})"
REQUESTED_VERSION = _VERSION  # for the endpoints that keep their SQL beside them

# The status row and the live freshness of the log source (one row each).
STATUS = """
select s.active_model_version, s.latest_prediction_at, s.latest_log_at, s.total_predictions,
       s.anomaly_count, s.high_severity_count, s.logs_available, s.predictions_available,
       s.last_run_at, s.next_run_due_at, f.newest_log_at, f.newest_log_arrived_at,
       f.newest_scored_log_at, f.unscored_logs, f.unscored_logs_capped, f.scoring_behind
from ml_status as s
cross join ml_log_freshness as f
limit 1
"""

WINDOW_BY_SEVERITY = f"""
select window_name, window_start, window_end, model_version, severity,
       predictions, anomalies, level_disagreements
from ml_stats_windows
where window_name = %(window)s and model_version = {_VERSION}
order by array_position(%(severities)s::text[], severity)
"""

# Hourly series ending at the newest hour scored (logs may be historical, so not at now()).
# The newest hour is a scalar subquery: one probe of the (model_version, hour) index. The
# response times' table has one row per hour (and version): the join repeats it, never a
# count.
HOURLY = f"""
select h.hour, sum(h.predictions)::bigint as predictions, sum(h.anomalies)::bigint as anomalies,
       sum(h.level_disagreements)::bigint as level_disagreements,
       sum(h.anomaly_score_sum) / nullif(sum(h.predictions), 0) as mean_anomaly_score,
       max(r.avg_response_time_ms) as avg_response_time_ms,
       max(r.p95_response_time_ms) as p95_response_time_ms
from ml_stats_hourly as h
left join ml_response_times_hourly as r on r.model_version = h.model_version and r.hour = h.hour
where h.model_version = {_VERSION}
  and h.hour > (
      select max(newest.hour) from ml_stats_hourly as newest
      where newest.model_version = {_VERSION}
  ) - make_interval(hours => %(hours)s)
group by h.hour
order by h.hour
"""

# Breakdowns over the same bounds as a ml_stats_windows window.
_IN_WINDOW = f"""
from ml_stats_hourly as h
join (
    select distinct model_version, window_start, window_end
    from ml_stats_windows
    where window_name = %(window)s and model_version = {_VERSION}
) as w on h.model_version = w.model_version
where h.hour >= w.window_start and h.hour < w.window_end
"""

LEVELS = f"""
select h.logged_level, h.predicted_level, sum(h.predictions)::bigint as predictions
{_IN_WINDOW}
group by h.logged_level, h.predicted_level
order by h.logged_level, h.predicted_level
"""

SERVICES = f"""
select h.service, sum(h.predictions)::bigint as predictions,
       sum(h.anomalies)::bigint as anomalies,
       sum(h.level_disagreements)::bigint as level_disagreements
{_IN_WINDOW}
group by h.service
order by predictions desc, h.service
limit %(limit)s
"""

# One row per (version, model) as the registry has them, from the ml_model_versions view
# (which also gives each version's role); is_active kept for existing clients.
MODELS = """
select v.model_version, m.model_name, v.trained_at, v.training_rows, v.window_start,
       v.window_end, v.sklearn_version, m.metrics, v.role = 'active' as is_active, v.role
from ml_model_versions as v
cross join lateral (
    values ('level_classifier', v.level_metrics), ('anomaly_detector', v.anomaly_metrics)
) as m (model_name, metrics)
where m.metrics is not null
order by v.trained_at desc, v.model_version desc, m.model_name
"""

VERSIONS = """
select model_version, role, trained_at, training_rows, window_start, window_end,
       last_action, last_action_at
from ml_model_versions
order by trained_at desc, model_version desc
"""

# The pair compared most recently: the default when there is no active/challenger pair.
NEWEST_PAIR = """
select baseline_version, candidate_version
from ml_model_comparison
group by baseline_version, candidate_version
order by max(last_predicted_at) desc, candidate_version desc, baseline_version desc
limit 1
"""

# A pair is stored once (older version as baseline): accept it in either order. The last
# `days` days end at the pair's newest day compared, not at the wall clock.
COMPARISON = """
with pair as (
    select *
    from ml_model_comparison
    where (baseline_version = %(first)s and candidate_version = %(second)s)
       or (baseline_version = %(second)s and candidate_version = %(first)s)
)
select day, baseline_version, candidate_version, logs_compared, level_agreement,
       anomaly_agreement, baseline_anomaly_rate, candidate_anomaly_rate,
       baseline_level_counts, candidate_level_counts, logs_with_level,
       baseline_level_accuracy, candidate_level_accuracy, labelled_logs,
       baseline_anomaly_precision, baseline_anomaly_recall, baseline_anomaly_f1,
       candidate_anomaly_precision, candidate_anomaly_recall, candidate_anomaly_f1,
       last_predicted_at
from pair
where day > (select max(day) from pair) - %(days)s::int
order by day
"""

PREDICTION_COLUMNS = (
    "log_entry_id",
    "model_version",
    "logged_at",
    "predicted_at",
    "logged_level",
    "predicted_level",
    "level_confidence",
    "level_disagrees",
    "is_anomaly",
    "anomaly_score",
    "anomaly_confidence",
    "severity",
    "explanation",
    "service",
    "host",
    "source_type",
    "log_id",
    "message",
)

# Filter name -> SQL condition; only these fixed fragments are ever put into the WHERE clause,
# the values always travel as parameters.
_FILTERS: dict[str, str] = {
    "since": "logged_at >= %(since)s",
    "until": "logged_at < %(until)s",
    "severity": "severity = any(%(severity)s)",
    "is_anomaly": "is_anomaly = %(is_anomaly)s",
    "level_disagrees": "level_disagrees = %(level_disagrees)s",
    "logged_level": "logged_level = any(%(logged_level)s)",
    "predicted_level": "predicted_level = any(%(predicted_level)s)",
    "service": "service = %(service)s",
    # Keyset pagination, newest first: the rows strictly after the cursor's row.
    "cursor": "(logged_at, log_entry_id) < (%(cursor_logged_at)s, %(cursor_log_entry_id)s)",
}


def predictions(filters: dict[str, Any]) -> sql.Composed:
    """The predictions page query for the filters that are set (None means not set).

    The WHERE clause holds only the conditions in use, so each combination gets its own plan
    (an index range scan on (model_version, logged_at)) instead of one generic plan full of
    `%s is null or ...` branches.
    """
    conditions = [sql.SQL(f"model_version = {_VERSION}")]
    conditions += [sql.SQL(_FILTERS[name]) for name in _FILTERS if filters.get(name) is not None]
    return sql.SQL(
        "select {columns} from ml_predictions where {where}"
        " order by logged_at desc, log_entry_id desc limit %(limit)s"
    ).format(
        columns=sql.SQL(", ").join(map(sql.Identifier, PREDICTION_COLUMNS)),
        where=sql.SQL(" and ").join(conditions),
    )


# --- monitoring: drift, model health, alerts (api/monitoring.py) ------------------------------
# The templates the version flags most often that nobody has labelled yet (what to label
# next: model_export label), with the newest line of each as its example.
UNLABELLED_TEMPLATES = f"""
select h.model_version, h.template_hash, h.service, h.flagged, h.lines,
       h.example_log_entry_id, logml_redact(p.message) as example_message
from ml_detector_template_history as h
left join ml_predictions as p
  on p.model_version = h.model_version and p.log_entry_id = h.example_log_entry_id
where h.model_version = {_VERSION}
  and h.flagged > 0
  and not exists (
      select 1 from ml_template_labels as l where l.template_hash = h.template_hash
  )
order by h.flagged desc, h.lines, h.template_hash
limit %(limit)s
"""

DRIFT = f"""
select model_version, feature, training_start, training_end, current_start, current_end,
       baseline_rows, current_rows, psi, alert_threshold
from ml_drift
where model_version = {_VERSION}
order by psi desc nulls last, feature
"""

# Days of ml_model_health summed over services (or one service), the last `days` days up to
# the newest day the version has; confusion counts summed per "LOGGED->PREDICTED" pair.
MODEL_HEALTH = f"""
with recent as (
    select *
    from ml_model_health
    where model_version = {_VERSION}
      and (%(service)s::text is null or service = %(service)s::text)
      and day > (
          select max(newest.day) from ml_model_health as newest
          where newest.model_version = {_VERSION}
      ) - make_interval(days => %(days)s)
),
totals as (
    select day, sum(predictions)::bigint as predictions,
           sum(known_level_predictions)::bigint as known_level_predictions,
           sum(agreements)::bigint as agreements,
           sum(agreements)::float8 / nullif(sum(known_level_predictions), 0)::float8
               as agreement_rate,
           sum(under_logged)::bigint as under_logged, sum(over_logged)::bigint as over_logged,
           sum(logged_low_reads_high)::bigint as logged_low_reads_high
    from recent
    group by day
),
pairs as (
    select recent.day, pair.key, sum(pair.value::bigint) as lines
    from recent
    cross join lateral jsonb_each_text(recent.confusion) as pair
    group by recent.day, pair.key
),
confusion as (
    select day, jsonb_object_agg(key, lines) as confusion
    from pairs
    group by day
)
select {_VERSION} as model_version, totals.*, confusion.confusion
from totals
join confusion using (day)
order by totals.day
"""

# Whether the notifier has created its delivery table and the API may read it.
DELIVERIES_READABLE = """
select coalesce(has_table_privilege(to_regclass('ml_alert_deliveries'), 'select'), false)
    as readable
"""

# Whether the notifier has recorded any attempt (only asked where the table is readable).
DELIVERIES_RECORDED = "select exists (select from ml_alert_deliveries) as recorded"

# Alerts newest first with their delivery, as a JSON array, plus counts over every alert.
# {deliveries} is ml_alert_deliveries, or an empty relation of its shape before the notifier
# ever ran; {where} holds only fixed conditions; {alert} the columns of alerts/alert.py.
ALERTS = """
with delivery as (
    select alert_key, attempts, last_attempt_at, http_status, last_error, delivered_at
    from {deliveries}
),
alerts as (
    select a.*, d.attempts, d.last_attempt_at, d.http_status, d.last_error, d.delivered_at
    from ml_alerts as a
    left join delivery as d on a.alert_key = d.alert_key
),
page as (
    select *
    from alerts
    where {where}
    order by detected_at desc, window_start desc, alert_key
    limit %(limit)s
)
select
    (select count(*) from alerts),
    (select count(*) from alerts where delivered_at is not null),
    (select coalesce(json_agg(json_build_object(
        {alert},
        'delivery', json_build_object(
            'state', case when p.delivered_at is not null then 'delivered' else 'pending' end,
            'attempts', coalesce(p.attempts, 0), 'last_attempt_at', p.last_attempt_at,
            'http_status', p.http_status, 'last_error', p.last_error,
            'delivered_at', p.delivered_at
        )
    ) order by p.detected_at desc, p.window_start desc, p.alert_key), '[]')::text from page as p)
"""

NO_DELIVERIES = """(
    select null::text as alert_key, null::integer as attempts,
           null::timestamptz as last_attempt_at, null::integer as http_status,
           null::text as last_error, null::timestamptz as delivered_at
    where false
)"""

ALERT_FILTERS: dict[str, str] = {
    "kind": "alert_kind = any(%(kind)s)",
    "severity": "severity = any(%(severity)s)",
    "state": "(delivered_at is not null) = (%(state)s = 'delivered')",
    "service": "service = %(service)s",
    "incident_id": "details ->> 'incident_id' = %(incident_id)s",
}


def alerts(filters: dict[str, Any], deliveries_readable: bool) -> sql.Composed:
    """The alerts query for the filters that are set (None means not set)."""
    conditions = [sql.SQL(ALERT_FILTERS[name]) for name in ALERT_FILTERS if filters.get(name)]
    return sql.SQL(ALERTS).format(
        deliveries=sql.Identifier("ml_alert_deliveries")
        if deliveries_readable
        else sql.SQL(NO_DELIVERIES),
        where=sql.SQL(" and ").join(conditions) if conditions else sql.SQL("true"),
        alert=json_pairs(ALERT_COLUMNS),
    )


# The columns that hold log text, and the redaction function each is served through.
REDACTED_COLUMNS = {
    "message": "logml_redact",
    "explanation": "logml_redact",
    "details": "logml_redact_json",
    # ml_incidents: its title and templates quote a line, its terms are words of its lines
    "title": "logml_redact",
    "templates": "logml_redact_json",
    "terms": "logml_redact_json",
}


def served(column: str) -> sql.Composed:
    """The column of the row `p` as served: through its redaction function if REDACTED_COLUMNS
    names one."""
    value = sql.SQL("p.{}").format(sql.Identifier(column))
    if column in REDACTED_COLUMNS:
        value = sql.SQL("{}({})").format(sql.Identifier(REDACTED_COLUMNS[column]), value)
    return value


def json_pairs(columns: tuple[str, ...]) -> sql.Composed:
    """json_build_object's arguments for `columns` of the row `p`: 'name', p.name, ..., the
    columns of REDACTED_COLUMNS through their redaction function."""
    return sql.SQL(", ").join(
        sql.SQL("{}, {}").format(sql.Literal(column), served(column)) for column in columns
    )


def predictions_page(filters: dict[str, Any]) -> sql.Composed:
    """One page of predictions(filters) as JSON built by PostgreSQL: (the page's rows as a
    JSON array, the last row's logged_at as JSON and log_entry_id, whether more rows follow).
    `filters["limit"]` is the page size plus one (the extra row only says there is more)."""
    return page_of_predictions(predictions(filters))


def page_of_predictions(rows: sql.Composable) -> sql.Composed:
    """The page of predictions_page over `rows` (a query of ml_predictions rows in page order,
    with the limit)."""
    return sql.SQL(
        """
select coalesce(json_agg(json_build_object({pairs}) order by p.n)
                filter (where p.n < %(limit)s), '[]')::text,
       to_json(max(p.logged_at) filter (where p.n = %(limit)s - 1))::text,
       max(p.log_entry_id) filter (where p.n = %(limit)s - 1),
       count(*) = %(limit)s
from (
    select page.*, row_number() over (order by page.logged_at desc, page.log_entry_id desc) as n
    from ({rows}) as page
) as p
"""
    ).format(pairs=json_pairs(PREDICTION_COLUMNS), rows=rows)
