"""Bursts of known log templates copied into new hours (incident and alert tests): the copies
repeat the text of the template's own history, so the models see a template they know."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from dbt_project.database import connect
from dev.db import fetch_all, scalar
from dev.pipeline import dbt


@dataclass(frozen=True)
class Template:
    template_hash: str
    level: str


def busiest_service(url: str) -> str:
    """The service with the most lines v1 scored: its history is long enough for its buckets to
    be judged."""
    service: str = scalar(
        url,
        "select service from ml.ml_predictions where model_version = 'v1'"
        " group by 1 order by count(*) desc limit 1",
    )
    return service


def hour_after_the_logs(url: str) -> datetime:
    """The start of the hour after the newest scored line: where the first burst goes."""
    hour: datetime = scalar(
        url, "select date_trunc('hour', max(logged_at)) + interval '1 hour' from ml.ml_predictions"
    )
    return hour


def known_template(url: str, service: str, level: str) -> Template:
    """The service's template with the most lines in the first build, nine in ten of them
    logged `level` (the generator logs some lines at a random level), none labelled anomalous
    by the generator."""
    rows = fetch_all(
        url,
        """
        select p.template_hash
        from ml.ml_predictions as p
        join public.log_entries as e on e.id = p.log_entry_id
        where p.service = %s
        group by p.template_hash
        having count(*) filter (where p.logged_level = %s) >= 0.9 * count(*)
            and not bool_or(coalesce(e.is_anomaly, false))
        order by count(*) desc, p.template_hash
        limit 1
        """,
        (service, level),
    )
    assert rows, f"no {level} template on {service}"
    return Template(rows[0][0], level)


def add_burst(url: str, service: str, template: Template, hour: datetime, lines: int) -> None:
    """`lines` copies of the first (up to 10) lines of `template` on `service`, in turn, one a
    minute from hour + 5 minutes: the same text as its history, so a known template."""
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            """
            with examples as (
                select e.*, row_number() over (order by e.id) as n
                from public.log_entries as e
                where e.id in (
                    select p.log_entry_id from ml.ml_predictions as p
                    where p.template_hash = %(template)s and p.service = %(service)s
                )
                order by e.id
                limit 10
            )
            insert into public.log_entries
                ("timestamp", level, message, service, host, category, http_status,
                 response_time_ms, source_type)
            select %(hour)s + make_interval(mins => 5 + i), e.level, e.message, e.service,
                   e.host, e.category, e.http_status, e.response_time_ms, e.source_type
            from generate_series(0, %(lines)s - 1) as i
            join examples as e on e.n = 1 + i %% (select count(*) from examples)
            """,
            {"template": template.template_hash, "service": service, "hour": hour, "lines": lines},
        )
        assert cur.rowcount == lines


def raise_an_incident(url: str, project: Path, lines: int = 40) -> tuple[str, datetime]:
    """An incident from the real models on a small build: a burst of a known WARN template of
    the busiest service in the hour after the logs, then one of a known ERROR template the next
    hour, a dbt build after each (opened, then escalated), with var incident_min_history_lines
    lowered to what a few thousand logs give that service. (service, the first burst's hour)."""
    service, start = busiest_service(url), hour_after_the_logs(url)
    bursts = [(known_template(url, service, level), start + timedelta(hours=n))
              for n, level in enumerate(("WARN", "ERROR"))]  # fmt: skip
    for template, hour in bursts:
        add_burst(url, service, template, hour, lines)
        dbt(project, url, "build", "--vars", json.dumps({"incident_min_history_lines": 200}))
    return service, start
