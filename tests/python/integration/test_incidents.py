"""Incidents end to end: the real pipeline (generated logs, trained and compiled models, dbt
build as the schedule runs it, the notifier posting to a local webhook), then hours of log time
added run by run. Each hour is a copy of the normal lines of the same hour a day earlier (the
generator's labelled incident lines left out), with bursts of known templates of the busiest
service copied in:

- run A: a burst of a known WARN template opens one incident: exactly one alert, one message;
- run B: a burst of a known ERROR template of the same service the next hour extends it (same
  incident, more lines) and escalates it to high: one alert, one message;
- run C: two normal hours resolve it: one alert, one message;
- run D: the WARN template, labelled normal, bursts again: no incident, no alert;
- run E: no new lines, a retention of 0.1 days (2.4 hours before the newest line): the
  buckets without a line left in ml_predictions go, and the resolved incident with them; its
  alerts stay.

The rules are pinned down by the dbt unit tests beside the models
(models/marts/incidents/_incidents__models.yml); here they meet real logs and real dbt."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dbt_project.database import connect
from dev.db import fetch_all, records, scalar
from dev.pipeline import build, dbt
from tests.python.harness.bursts import (
    Template,
    add_burst,
    busiest_service,
    hour_after_the_logs,
    known_template,
)
from tests.python.harness.prepared import Prepared
from tests.python.harness.webhook import notify, receiver

pytestmark = pytest.mark.slow  # its module fixture builds a database with dbt (minutes)

ROWS = 9000  # the busiest service keeps var incident_min_history_lines (1,000) of history
BURST = 40  # lines per burst, in one hour
# Run E's retention: the newest line is in start + 4 h, so the incident's hours (start, start +
# 1 h) lose all their lines and the predictions of start + 4 h stay.
RETENTION_DAYS = 0.1


@dataclass
class Run:
    """What one dbt build (and the notifier after it) changed."""

    incidents: list[dict[str, Any]]  # every ml_incidents row after it
    alerts: list[dict[str, Any]]  # the ml_alerts rows it added
    posts: list[dict[str, Any]]  # the webhook bodies the notifier sent after it
    incident_lines: list[tuple[str, int]]  # ml_incident_lines after it: (incident, line)
    # the ml_predictions rows of the bursts' hours after it (run E's retention prunes them)
    burst_hours: list[dict[str, Any]]


@dataclass
class Scenario:
    url: str
    service: str
    warn: Template
    error: Template
    start: datetime  # the first hour after the generated logs
    runs: dict[str, Run] = field(default_factory=dict)


def add_hours(url: str, start: datetime, hours: int) -> None:
    """Copies, a day later, of the normal lines logged in [start - 1 day, + hours)."""
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            """
            insert into public.log_entries
                ("timestamp", level, message, service, host, category, http_status,
                 response_time_ms, source_type)
            select "timestamp" + interval '1 day', level, message, service, host, category,
                   http_status, response_time_ms, source_type
            from public.log_entries
            where "timestamp" >= %(start)s - interval '1 day'
              and "timestamp" < %(start)s - interval '1 day' + make_interval(hours => %(hours)s)
              and not coalesce(is_anomaly, false)
            order by "timestamp", id
            """,
            {"start": start, "hours": hours},
        )


@pytest.fixture(scope="module")
def scenario(module_db: str, dbt_project_copy: Path) -> Iterator[Scenario]:
    url, project = module_db, dbt_project_copy
    build(url, project, ROWS, seed=23)
    service, start = busiest_service(url), hour_after_the_logs(url)
    found = Scenario(
        url, service, known_template(url, service, "WARN"), known_template(url, service, "ERROR"),
        start,
    )  # fmt: skip
    seen = {row["alert_key"] for row in records(url, "select alert_key from ml.ml_alerts")}
    hour = timedelta(hours=1)
    steps = {
        "A": lambda: (add_hours(url, start, 1), add_burst(url, service, found.warn, start, BURST)),
        "B": lambda: (
            add_hours(url, start + hour, 1),
            add_burst(url, service, found.error, start + hour, BURST),
        ),
        "C": lambda: add_hours(url, start + 2 * hour, 2),
        "D": lambda: (
            label_normal(url, found.warn),
            add_hours(url, start + 4 * hour, 1),
            add_burst(url, service, found.warn, start + 4 * hour, BURST),
        ),
        "E": lambda: None,
    }
    with receiver() as hook:
        for name, step in steps.items():
            step()
            retention = ["--vars", f"{{retention: {RETENTION_DAYS}}}"] if name == "E" else []
            dbt(project, url, "build", *retention)
            rows = records(url, "select * from ml.ml_alerts order by detected_at, alert_key")
            added = [row for row in rows if row["alert_key"] not in seen]
            seen.update(row["alert_key"] for row in added)
            posted = len(hook.posts)
            done = notify(url, hook.url)
            assert done.returncode == 0, done.stdout + done.stderr
            incidents = records(url, "select * from ml.ml_incidents order by started_at")
            lines = fetch_all(
                url, "select incident_id, log_entry_id from ml.ml_incident_lines order by 2"
            )
            burst_hours = records(
                url,
                "select log_entry_id, service, template_hash, logged_at from ml.ml_predictions"
                " where logged_at >= %(start)s and logged_at < %(start)s + interval '2 hours'"
                " order by log_entry_id",
                {"start": start},
            )
            posts = [body for _, body in hook.posts[posted:]]
            found.runs[name] = Run(incidents, added, posts, lines, burst_hours)
    yield found


def label_normal(url: str, template: Template) -> None:
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            "insert into ml.ml_template_labels (template_hash, is_anomaly, example_message)"
            " values (%s, false, 'labelled normal by the test')",
            (template.template_hash,),
        )


def about_service(run: Run, service: str) -> list[dict[str, Any]]:
    return [row for row in run.incidents if row["service"] == service]


def test_a_burst_of_a_known_template_opens_one_incident_and_one_alert(scenario: Scenario) -> None:
    run = scenario.runs["A"]
    (incident,) = about_service(run, scenario.service)
    assert incident["state"] == "open"
    assert incident["severity"] == incident["opened_severity"] == "medium"  # WARN lines
    assert incident["signals"] == ["burst"]
    (template,) = incident["templates"]
    assert template["template_hash"] == scenario.warn.template_hash
    assert not template["new"]  # known: its history has lines of it
    assert incident["lines"] >= BURST and incident["lines"] > 5 * incident["expected"]
    assert incident["first_bucket"] == scenario.start
    # nothing else in the run is unusual: exactly one alert, one message
    assert [(a["alert_kind"], a["service"]) for a in run.alerts] == [
        ("incident_opened", scenario.service)
    ]
    assert run.alerts[0]["details"]["incident_id"] == incident["incident_id"]
    (post,) = run.posts
    assert post["text"].startswith(
        f":large_orange_circle: [logml v1] Incident on {scenario.service}"
    )
    fields = {f["text"].split("\n")[0]: f["text"] for f in post["blocks"][2]["fields"]}
    assert incident["incident_id"] in fields["*Incident*"]


def test_the_next_run_extends_and_escalates_the_same_incident(scenario: Scenario) -> None:
    first = about_service(scenario.runs["A"], scenario.service)[0]
    run = scenario.runs["B"]
    (incident,) = about_service(run, scenario.service)
    assert incident["incident_id"] == first["incident_id"]
    assert incident["state"] == "open"
    assert incident["last_bucket"] == scenario.start + timedelta(hours=1)
    assert incident["lines"] >= first["lines"] + BURST
    assert (incident["opened_severity"], incident["severity"]) == ("medium", "high")  # ERROR lines
    assert {t["template_hash"] for t in incident["templates"]} == {
        scenario.warn.template_hash, scenario.error.template_hash,
    }  # fmt: skip
    assert [(a["alert_kind"], a["severity"]) for a in run.alerts] == [
        ("incident_escalated", "high")
    ]
    (post,) = run.posts
    assert "escalated from medium to high" in post["text"]


def test_quiet_hours_resolve_it_with_one_alert(scenario: Scenario) -> None:
    first = about_service(scenario.runs["A"], scenario.service)[0]
    run = scenario.runs["C"]
    (incident,) = about_service(run, scenario.service)
    assert incident["incident_id"] == first["incident_id"]
    assert incident["state"] == "resolved" and incident["resolved_at"] > incident["detected_at"]
    assert incident["ended_at"] == incident["last_seen_at"] < scenario.start + timedelta(hours=2)
    assert [a["alert_kind"] for a in run.alerts] == ["incident_resolved"]
    (post,) = run.posts
    assert f"Incident on {scenario.service} resolved" in post["text"]


def test_the_incident_lines_are_its_templates_in_its_buckets(scenario: Scenario) -> None:
    run = scenario.runs["C"]
    incident = about_service(run, scenario.service)[0]
    got = [
        line for incident_id, line in run.incident_lines if incident_id == incident["incident_id"]
    ]
    hour = timedelta(hours=1)
    unusual = {(scenario.warn.template_hash, scenario.start),
               (scenario.error.template_hash, scenario.start + hour)}  # fmt: skip
    expected = [
        row["log_entry_id"]
        for row in run.burst_hours
        if row["service"] == scenario.service
        and (row["template_hash"], row["logged_at"].replace(minute=0, second=0, microsecond=0))
        in unusual
    ]
    assert got == expected
    assert len(got) == incident["lines"] >= 2 * BURST


def test_a_template_labelled_normal_opens_nothing(scenario: Scenario) -> None:
    run = scenario.runs["D"]
    assert run.alerts == [] and run.posts == []
    assert run.incidents == scenario.runs["C"].incidents
    (bucket,) = records(
        scenario.url,
        "select * from ml.ml_template_buckets"
        " where service = %(s)s and template_hash = %(t)s and bucket_start = %(b)s",
        {
            "s": scenario.service,
            "t": scenario.warn.template_hash,
            "b": scenario.start + timedelta(hours=4),
        },
    )
    assert bucket["lines"] >= BURST and bucket["label"] == "normal" and not bucket["is_unusual"]
    # without the label the same count would have been unusual
    assert bucket["tail_probability"] < 1e-6


def test_retention_prunes_the_buckets_and_the_resolved_incident_with_the_predictions(
    scenario: Scenario,
) -> None:
    incident = about_service(scenario.runs["C"], scenario.service)[0]
    run = scenario.runs["E"]
    assert incident["incident_id"] not in {row["incident_id"] for row in run.incidents}
    oldest = scalar(scenario.url, "select min(logged_at) from ml.ml_predictions")
    assert scenario.start + timedelta(hours=2) <= oldest < scenario.start + timedelta(hours=4)
    for table in ("ml_service_buckets", "ml_template_buckets"):
        kept = fetch_all(
            scenario.url,
            f"select min(b.bucket_start), count(*) from ml.{table} as b"
            " where b.model_version in (select model_version from ml.ml_predictions)",
        )[0]
        # every bucket kept has lines in ml_predictions: the oldest is the oldest line's hour
        assert kept[0] == oldest.replace(minute=0, second=0, microsecond=0), table
        assert kept[1] > 0, table
    assert not fetch_all(
        scenario.url,
        "select 1 from ml.ml_incidents where state = 'resolved' and last_bucket < %s",
        (oldest.replace(minute=0, second=0, microsecond=0),),
    )
    # ml_alerts keeps what it said of the incident: the record of what was sent
    said = fetch_all(
        scenario.url,
        "select alert_kind from ml.ml_alerts where details ->> 'incident_id' = %s order by 1",
        (incident["incident_id"],),
    )
    assert [kind for (kind,) in said] == [
        "incident_escalated", "incident_opened", "incident_resolved",
    ]  # fmt: skip
    assert run.alerts == [] and run.posts == []


def test_a_later_run_extends_an_incident_longer_than_the_quiet_gap(built: Prepared) -> None:
    """Four hours of bursts in one run make one incident whose first and last buckets are
    further apart than the quiet gap; the next run's burst an hour later extends it: still
    one incident, the same id (a run once split it at the gap and failed on its own upsert)."""
    url, project = built.url, built.project
    service, start = busiest_service(url), hour_after_the_logs(url)
    warn = known_template(url, service, "WARN")
    # the built pipeline's busiest service has a few hundred lines of history
    short_history = ("--vars", json.dumps({"incident_min_history_lines": 200}))

    def incidents_after(hours: range) -> list[dict[str, Any]]:
        add_hours(url, start + timedelta(hours=hours.start), len(hours))
        for hour in hours:
            add_burst(url, service, warn, start + timedelta(hours=hour), BURST)
        dbt(project, url, "run", "--selector", "run_often", *short_history)
        return records(url, "select * from ml.ml_incidents where service = %(s)s", {"s": service})

    (long,) = incidents_after(range(4))
    assert long["last_bucket"] - long["first_bucket"] == timedelta(hours=3)
    (extended,) = incidents_after(range(4, 5))
    assert extended["incident_id"] == long["incident_id"]
    assert (extended["first_bucket"], extended["last_bucket"]) == (
        start, start + timedelta(hours=4),
    )  # fmt: skip
    assert extended["lines"] >= long["lines"] + BURST
