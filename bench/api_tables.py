"""Synthetic tables for bench/api_latency.py: every table and view the API reads, with the
columns the dbt contracts define, filled with generated predictions and derived from them in
SQL the way the dbt models derive theirs (models/marts/). Not the real pipeline: scoring 10M
logs would take the benchmark hours, and what is measured here is reading. They live in
schema ml of the bench's own database (the API it starts is told so: LOGML_SCHEMA=ml)."""

from __future__ import annotations

import time

import psycopg

from dbt_project.macros import render_macro
from dbt_project.migrations import REDACTION
from dbt_project.redaction import load_redaction

VERSION = "bench-synthetic"
OLD_VERSION = "bench-retired"
# logs that arrived after the last scoring run (ml_log_freshness counts them)
UNSCORED_LOGS = 500
# distinct synthetic templates (the anomalies, every 50th line, fall in 40 of them)
TEMPLATES = 2000

DDL = """
create schema if not exists ml;
create table ml.ml_predictions (
    log_entry_id bigint, model_version text, predicted_level text, level_confidence float8,
    logged_level text, level_disagrees boolean, is_anomaly boolean, anomaly_score float8,
    anomaly_confidence float8, severity text, explanation text, logged_at timestamptz,
    service text, host text, source_type text, log_id text, message text,
    predicted_at timestamptz
);
create table ml.ml_stats_hourly (
    hour timestamptz, model_version text, service text, logged_level text,
    predicted_level text, severity text, predictions bigint, anomalies bigint,
    level_disagreements bigint, anomaly_score_sum float8, last_predicted_at timestamptz
);
create table ml.ml_response_times_hourly (
    hour timestamptz, model_version text, timed_lines bigint, response_time_ms_sum float8,
    avg_response_time_ms float8, p95_response_time_ms float8, last_predicted_at timestamptz
);
create table ml.ml_stats_windows (
    window_name text, window_start timestamptz, window_end timestamptz, model_version text,
    severity text, predictions bigint, anomalies bigint, level_disagreements bigint
);
create table ml.ml_status (
    active_model_version text, latest_prediction_at timestamptz, latest_log_at timestamptz,
    total_predictions bigint, anomaly_count bigint, high_severity_count bigint,
    logs_available boolean, predictions_available boolean, last_run_at timestamptz,
    next_run_due_at timestamptz
);
create table ml.ml_model_health (
    day timestamptz, service text, model_version text, predictions bigint,
    known_level_predictions bigint, agreements bigint, agreement_rate float8,
    under_logged bigint, over_logged bigint, logged_low_reads_high bigint, confusion jsonb
);
create table ml.ml_drift (
    model_version text, feature text, training_start timestamptz, training_end timestamptz,
    current_start timestamptz, current_end timestamptz, baseline_rows bigint,
    current_rows bigint, psi float8, alert_threshold float8
);
create table ml.ml_alerts (
    alert_key text, alert_kind text, model_version text, service text,
    window_start timestamptz, window_end timestamptz, observed float8, baseline float8,
    threshold float8, severity text, message text, details jsonb, detected_at timestamptz,
    source_predicted_at timestamptz
);
create table ml.ml_alert_deliveries (
    alert_key text primary key, alert_kind text not null, attempts integer not null,
    first_attempt_at timestamptz not null, last_attempt_at timestamptz not null,
    http_status integer, last_error text, delivered_at timestamptz
);
create table ml.ml_model_versions (
    model_version text, role text, trained_at timestamptz, window_start timestamptz,
    window_end timestamptz, training_rows bigint, sklearn_version text, level_metrics jsonb,
    anomaly_metrics jsonb, last_action text, last_action_at timestamptz
);
create table ml.ml_model_comparison (
    day date, baseline_version text, candidate_version text, logs_compared bigint,
    level_agreement float8, anomaly_agreement float8, baseline_anomaly_rate float8,
    candidate_anomaly_rate float8, baseline_level_counts jsonb, candidate_level_counts jsonb,
    logs_with_level bigint, baseline_level_accuracy float8, candidate_level_accuracy float8,
    labelled_logs bigint, baseline_anomaly_precision float8, baseline_anomaly_recall float8,
    baseline_anomaly_f1 float8, candidate_anomaly_precision float8,
    candidate_anomaly_recall float8, candidate_anomaly_f1 float8, last_predicted_at timestamptz
);
create table ml.ml_detector_template_history (
    model_version text not null, service text not null, template_hash text not null,
    lines bigint not null, flagged bigint not null, example_log_entry_id bigint,
    last_predicted_at timestamptz
);
-- macros/schema_migrations.sql
create table ml.ml_template_labels (
    template_hash text primary key, is_anomaly boolean not null, example_message text not null,
    note text, labelled_at timestamptz not null default now()
);
-- the log source's ids and times (stg_log_arrivals): the scored logs and a few newer ones
create table ml.bench_log_arrivals (
    log_entry_id bigint primary key, logged_at timestamptz, created_at timestamptz
);
"""

# Synthetic predictions: 30 days of logs, 2% anomalies, severity by the documented rule,
# scored over the last 7 days (so the old "last 24 hours" query has about 1/7 of the rows).
FILL = """
insert into ml.ml_predictions
select g, %(version)s, lvl, 0.5 + 0.5 * random(), logged,
       logged <> lvl, anomaly, score, 0.5 + 0.5 * random(),
       case when anomaly and lvl = 'FATAL' then 'critical' when anomaly then 'high'
            when lvl in ('ERROR', 'FATAL') then 'medium' when lvl = 'WARN' then 'low'
            else 'info' end,
       'synthetic row', logged_at, 'svc-' || (g %% 12), 'host-' || (g %% 40), 'application',
       'syn-' || g, 'synthetic log line ' || g,
       now() - make_interval(secs => 7 * 86400.0 * (%(rows)s - g) / %(rows)s::float8)
from (
    select g,
           (array['DEBUG', 'INFO', 'INFO', 'INFO', 'WARN', 'ERROR', 'FATAL'])[1 + g %% 7] as lvl,
           (array['DEBUG', 'INFO', 'INFO', 'WARN', 'INFO', 'ERROR', 'ERROR'])[1 + g %% 7]
               as logged,
           g %% 50 = 0 as anomaly,
           case when g %% 50 = 0 then 0.8 + 0.2 * random() else 0.6 * random() end as score,
           timestamptz '2026-01-01' + make_interval(secs => 30 * 86400.0 * g / %(rows)s::float8)
               as logged_at
    from generate_series(1, %(rows)s) as g
) as synthetic
"""

# Each statement alone: psycopg binds parameters per statement.
DERIVE = [
    # the indexes ml_predictions has (models/marts/ml_predictions.sql)
    "create unique index on ml.ml_predictions (model_version, log_entry_id)",
    "create index on ml.ml_predictions (logged_at)",
    "create index on ml.ml_predictions (model_version, logged_at)",
    "create index on ml.ml_predictions (predicted_at)",
    # the old system's table had this one (idx_ml_predictions_log_entry_id); only its lookup
    # baseline uses it
    "create index if not exists bench_old_log_entry_id_idx on ml.ml_predictions (log_entry_id)",
    """insert into ml.ml_stats_hourly
select date_trunc('hour', logged_at), model_version, coalesce(service, '(none)'),
       coalesce(logged_level, '(unknown)'), predicted_level, severity, count(*),
       count(*) filter (where is_anomaly), count(*) filter (where level_disagrees),
       sum(anomaly_score), max(predicted_at)
from ml.ml_predictions group by 1, 2, 3, 4, 5, 6""",
    "create index on ml.ml_stats_hourly (model_version, hour)",
    # synthetic response times: 0-996 ms from the id
    """insert into ml.ml_response_times_hourly
select date_trunc('hour', logged_at), model_version, count(*), sum(ms), avg(ms),
       percentile_cont(0.95) within group (order by ms), max(predicted_at)
from (select logged_at, model_version, predicted_at, (log_entry_id % 997)::float8 as ms
      from ml.ml_predictions) as p
group by 1, 2""",
    "create index on ml.ml_response_times_hourly (model_version, hour)",
    """insert into ml.ml_stats_windows
select w.name, e.window_end - w.length, e.window_end, e.model_version, s.severity,
       coalesce(sum(h.predictions), 0), coalesce(sum(h.anomalies), 0),
       coalesce(sum(h.level_disagreements), 0)
from (select model_version, max(hour) + interval '1 hour' as window_end
      from ml.ml_stats_hourly group by 1) as e
cross join (values ('1h', interval '1 hour'), ('24h', interval '24 hours'),
                   ('7d', interval '7 days')) as w (name, length)
cross join unnest(array['critical', 'high', 'medium', 'low', 'info']) as s (severity)
left join ml.ml_stats_hourly as h
    on h.model_version = e.model_version and h.severity = s.severity
   and h.hour >= e.window_end - w.length and h.hour < e.window_end
group by 1, 2, 3, 4, 5""",
    """insert into ml.ml_status
select %(version)s, max(last_predicted_at), max(hour) + interval '1 hour', sum(predictions),
       sum(anomalies), sum(predictions) filter (where severity in ('critical', 'high')), true,
       true, now(), now() + interval '6 hours'
from ml.ml_stats_hourly""",
    # ml_model_health: per day, service and version from the hourly stats
    """insert into ml.ml_model_health
with pairs as (
    select date_trunc('day', hour) as day, service, model_version, logged_level,
           predicted_level, sum(predictions) as n,
           array_position(array['DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'], logged_level) as lr,
           array_position(array['DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'], predicted_level) as pr
    from ml.ml_stats_hourly group by 1, 2, 3, 4, 5
)
select day, service, model_version, sum(n), sum(n) filter (where lr is not null),
       coalesce(sum(n) filter (where lr = pr), 0),
       sum(n) filter (where lr = pr)::float8 / nullif(sum(n) filter (where lr is not null), 0),
       coalesce(sum(n) filter (where pr > lr), 0), coalesce(sum(n) filter (where pr < lr), 0),
       coalesce(sum(n) filter (where lr <= 2 and pr >= 4), 0),
       jsonb_object_agg(logged_level || '->' || predicted_level, n)
from pairs group by 1, 2, 3""",
    """insert into ml.ml_drift
select %(version)s, feature, timestamptz '2025-12-01', timestamptz '2026-01-01',
       e.window_end - interval '24 hours', e.window_end, 20000, 20000, psi, 0.25
from (select max(window_end) as window_end from ml.ml_stats_windows) as e
cross join (values ('predicted_level', 0.004), ('message_length', 0.31),
                   ('token_count', 0.12), ('digit_ratio', 0.02), ('template_frequency', 0.08),
                   ('level_ordinal', 0.001), ('http_status', 0.0),
                   ('response_time_ms', 0.0)) as f (feature, psi)""",
    # alerts: every (service, hour) of the last two days with 3+ high-severity lines, the way
    # ml_alerts' high_severity_anomaly rule counts them; every other one delivered
    """insert into ml.ml_alerts
select md5(service || hour::text), 'high_severity_anomaly', %(version)s::text, service, hour,
       hour + interval '1 hour', high, null, 3, 'high',
       format('[logml %%s] %%s high-severity lines on %%s', %(version)s::text, high, service),
       jsonb_build_object('high_severity_lines', high), now(), now()
from (
    select service, hour, sum(predictions) filter (where severity in ('critical', 'high')) as high
    from ml.ml_stats_hourly
    where hour >= (select max(hour) from ml.ml_stats_hourly) - interval '48 hours'
    group by 1, 2
) as hours
where high >= 3""",
    """insert into ml.ml_alert_deliveries
select alert_key, alert_kind, 1, now(), now(), 200, null, now()
from ml.ml_alerts where mod(ascii(alert_key), 2) = 0""",
    """insert into ml.ml_model_versions values
    (%(version)s, 'active', now() - interval '40 days', timestamptz '2025-12-01',
     timestamptz '2026-01-01', 800000, '1.9.1', '{"macro_f1": 0.96}', '{"f1": 0.7}',
     'activate', now() - interval '30 days'),
    (%(old)s, 'retired', now() - interval '80 days', timestamptz '2025-11-01',
     timestamptz '2025-12-01', 700000, '1.9.1', '{"macro_f1": 0.94}', '{"f1": 0.6}',
     'retire', now() - interval '30 days')""",
    """insert into ml.ml_model_comparison
select d::date, %(old)s, %(version)s, 40000, 0.97, 0.99, 0.021, 0.02,
       '{"INFO": 30000, "WARN": 6000, "ERROR": 3000, "DEBUG": 900, "FATAL": 100}',
       '{"INFO": 30100, "WARN": 5900, "ERROR": 3000, "DEBUG": 900, "FATAL": 100}',
       40000, 0.95, 0.96, 0, null, null, null, null, null, null, now()
from generate_series(timestamptz '2026-01-01', timestamptz '2026-01-30', interval '1 day') as d""",
    # ml_detector_template_history: TEMPLATES synthetic templates per version, each line's
    # (service, template) counted as the model counts them, the newest line as its example
    f"""insert into ml.ml_detector_template_history
select model_version, service, md5('template ' || (log_entry_id % {TEMPLATES})), count(*),
       count(*) filter (where is_anomaly), max(log_entry_id), max(predicted_at)
from ml.ml_predictions group by 1, 2, 3""",
    "create unique index on ml.ml_detector_template_history"
    " (model_version, service, template_hash)",
    # a few of the flagged templates labelled (the API lists the others)
    """insert into ml.ml_template_labels (template_hash, is_anomaly, example_message)
select distinct template_hash, true, 'synthetic example'
from ml.ml_detector_template_history where flagged > 0 order by template_hash limit 10""",
    """insert into ml.bench_log_arrivals
select log_entry_id, logged_at, predicted_at from ml.ml_predictions
union all
select %(rows)s + g, timestamptz '2026-01-31' + make_interval(secs => g), now()
from generate_series(1, %(unscored)s) as g""",
    # models/marts/ml_log_freshness.sql, over the synthetic arrivals
    """create view ml.ml_log_freshness as
with logs as not materialized (select * from ml.bench_log_arrivals),
predictions as (select * from ml.ml_predictions where model_version = 'bench-synthetic'),
newest_log as (
    select log_entry_id, logged_at, created_at from logs order by log_entry_id desc limit 1
),
newest_scored as (
    select log_entry_id, logged_at from predictions order by log_entry_id desc limit 1
),
unscored as (
    select count(*)::bigint as unscored_logs
    from (
        select 1 from logs
        where log_entry_id > coalesce((select log_entry_id from newest_scored), -1)
        limit 10000
    ) as newer
)
select newest_log.log_entry_id as newest_log_id, newest_log.logged_at as newest_log_at,
       newest_log.created_at as newest_log_arrived_at,
       newest_scored.log_entry_id as newest_scored_log_id,
       newest_scored.logged_at as newest_scored_log_at, unscored.unscored_logs,
       unscored.unscored_logs >= 10000 as unscored_logs_capped,
       unscored.unscored_logs > 0 as scoring_behind
from unscored left join newest_log on true left join newest_scored on true""",
    "analyze ml.ml_predictions",
    "analyze ml.ml_stats_hourly",
    "analyze ml.bench_log_arrivals",
    "analyze ml.ml_detector_template_history",
]


def redaction_functions() -> str:
    """The functions the API's queries redact what they serve with, from the project's rules
    (the schema migrations make them in a real database)."""
    redaction = load_redaction()
    return render_macro(
        [REDACTION],
        "logml_redaction_functions",
        "ml",
        redaction["rules"],
        redaction["placeholders"],
    )


def prepare(url: str, rows: int) -> None:
    """Fill the bench database with `rows` synthetic predictions and the tables derived from
    them (kept from an earlier run with --keep when it has exactly that many)."""
    with psycopg.connect(url) as conn:
        kept = conn.execute("select to_regclass('ml.ml_log_freshness') is not null").fetchone()
        if kept == (True,):
            found = conn.execute("select total_predictions from ml.ml_status").fetchone()
            if found == (rows,):
                print(f"reusing the kept {rows:,} synthetic predictions", flush=True)
                conn.execute(redaction_functions())
                return
        conn.execute("drop schema if exists ml cascade")
    started = time.perf_counter()
    params = {"version": VERSION, "old": OLD_VERSION, "rows": rows, "unscored": UNSCORED_LOGS}
    with psycopg.connect(url) as conn:
        conn.execute(DDL)
        # the functions the API's queries redact what they serve with, from the project's rules
        redaction = load_redaction()
        conn.execute(
            render_macro(
                [REDACTION],
                "logml_redaction_functions",
                "ml",
                redaction["rules"],
                redaction["placeholders"],
            )  # fmt: skip
        )
        conn.execute(FILL, params)
        for statement in DERIVE:
            conn.execute(statement, params if "%(" in statement else None)
        conn.execute(redaction_functions())
    print(f"filled {rows:,} synthetic predictions in {time.perf_counter() - started:.0f} s")
