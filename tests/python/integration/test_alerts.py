"""Alerts end to end: the real pipeline (generated logs, trained and compiled models, dbt) with
a burst of a known template injected into a new hour, then `python -m alerts notify` against a
local HTTP receiver. The incident rules are pinned down by the dbt unit tests in
models/marts/incidents/_incidents__models.yml and met run by run in test_incidents.py; here the
alerts are checked against ml_incidents (one per incident change), and the delivery guarantee
against what the receiver got."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dbt_project.database import connect
from dbt_project.vocabulary import VOCABULARY
from dev.db import records, scalar, wait_for
from dev.pipeline import build, dbt, start_dbt
from tests.python.harness.bursts import (
    Template,
    add_burst,
    busiest_service,
    hour_after_the_logs,
    known_template,
)
from tests.python.harness.webhook import Receiver, alert_key, notify, start_notify
from tests.python.harness.webhook import receiver as webhook_receiver

pytestmark = pytest.mark.slow  # its module fixture builds a database with dbt (minutes)

ROWS = 9000  # the busiest service keeps var incident_min_history_lines (1,000) of history
BURST = 40  # lines of one known template in one hour


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with webhook_receiver() as state:
        yield state


@dataclass(frozen=True)
class Pipeline:
    url: str
    project: Path
    service: str  # the busiest: its history is long enough for its buckets to be judged
    error: Template  # a known ERROR template of it, for the second burst
    burst_hour: datetime  # the hour after the generated logs, where the first burst went


@pytest.fixture(scope="module")
def pipeline(module_db: str, dbt_project_copy: Path) -> Pipeline:
    url, project = module_db, dbt_project_copy
    build(url, project, ROWS, seed=17)
    service, burst_hour = busiest_service(url), hour_after_the_logs(url)
    add_burst(url, service, known_template(url, service, "WARN"), burst_hour, BURST)
    dbt(project, url, "build")
    return Pipeline(url, project, service, known_template(url, service, "ERROR"), burst_hour)


def alerts(url: str) -> dict[str, dict[str, Any]]:
    """alert_key -> the ml_alerts row."""
    return {row["alert_key"]: row for row in records(url, "select * from ml.ml_alerts")}


def test_alerts_speak_of_each_incident_once(pipeline: Pipeline) -> None:
    url = pipeline.url
    raised = alerts(url)
    incidents = {
        row["incident_id"]: row
        for row in records(url, "select * from ml.ml_incidents where model_version = 'v1'")
    }
    assert {row["alert_kind"] for row in raised.values()} <= {
        kind.name for kind in VOCABULARY.alert_kinds if not kind.retired
    }

    # One incident_opened alert per incident of the active version, with its lines against
    # its baseline (its emptiest bucket for a drop alone), and nothing else speaks of one.
    opened = [row for row in raised.values() if row["alert_kind"] == "incident_opened"]
    assert Counter(row["details"]["incident_id"] for row in opened) == Counter(list(incidents))
    for row in opened:
        incident = incidents[row["details"]["incident_id"]]
        lines = incident["lines"] if incident["template_count"] else incident["peak_lines"]
        assert (row["service"], row["observed"]) == (incident["service"], lines)
        assert row["message"].startswith(f"[logml v1] Incident on {incident['service']} ")
    assert all(
        row["details"]["incident_id"] in incidents
        for row in raised.values()
        if row["alert_kind"] != "drift"
    )

    # The burst is one incident of its service, opened in its hour.
    (burst,) = [
        row
        for row in incidents.values()
        if row["service"] == pipeline.service and row["first_bucket"] == pipeline.burst_hour
    ]
    assert burst["lines"] >= BURST and burst["state"] == "open"

    # A rerun inserts nothing; a full refresh derives the same keys (none new to send).
    dbt(pipeline.project, url, "run", "-s", "ml_alerts")
    assert alerts(url).keys() == raised.keys()
    dbt(pipeline.project, url, "run", "-s", "ml_alerts", "--full-refresh")
    assert alerts(url).keys() == raised.keys()


def _compile(pipeline: Pipeline, variables: dict[str, Any], *select: str) -> tuple[int, str]:
    """`dbt compile` of `select` with `variables` (into a target folder of its own)."""
    run = start_dbt(
        pipeline.project, pipeline.url, "compile", "-s", *select, "--vars", json.dumps(variables),
        target="target-vocabulary",
    )  # fmt: skip
    output, _ = run.communicate(timeout=900)
    return run.returncode, output


def _names_in(compiled: Path, pattern: str, opening: str) -> list[str]:
    """The quoted names in the list that follows `opening` in the one file matching `pattern`."""
    (path,) = compiled.rglob(pattern)
    listed = path.read_text().split(opening, 1)[1].split(")", 1)[0]
    return re.findall(r"'([a-z_]+)'", listed)


def test_the_sql_and_its_tests_read_the_names_from_the_vars(pipeline: Pipeline) -> None:
    """Compiled with other vocabularies, ml_stats_windows has a row for each severity given
    and the accepted_values tests accept exactly the names given; a rule raising a kind that
    var alert_kinds lacks does not compile, and says where to add it."""
    kinds = {
        kind.name: {"title": kind.title, "observed": kind.observed, "description": kind.description}
        for kind in VOCABULARY.alert_kinds
    }
    added = {"title": "Incident merged", "observed": "lines", "description": "two became one"}
    variables = {
        "alert_kinds": {**kinds, "incident_merged": added},
        "severities": ["fatal", *VOCABULARY.severities],
        "alert_severities": ["page", *VOCABULARY.alert_severities],
    }
    code, output = _compile(
        pipeline, variables, "ml_stats_windows", "test_name:accepted_values,ml_alerts",
        "test_name:accepted_values,ml_predictions",
    )  # fmt: skip
    assert code == 0, output[-4000:]
    compiled = pipeline.project / "target-vocabulary" / "compiled"
    assert _names_in(compiled, "ml_stats_windows.sql", "unnest(") == variables["severities"]
    tests = {
        "accepted_values_ml_alerts_alert_kind*.sql": [*kinds, "incident_merged"],
        "accepted_values_ml_alerts_severity*.sql": variables["alert_severities"],
        "accepted_values_ml_predictions_severity*.sql": variables["severities"],
    }
    for pattern, names in tests.items():
        assert _names_in(compiled, pattern, "not in (") == names, pattern

    del kinds["drift"]
    code, output = _compile(pipeline, {"alert_kinds": kinds}, "ml_alerts")
    assert code != 0
    assert "alert kind 'drift' is not in var alert_kinds: add it" in output, output[-4000:]


def deliveries(url: str) -> dict[str, tuple[int, bool]]:
    """alert_key -> (attempts, delivered)."""
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            "select alert_key, attempts, delivered_at is not null from ml.ml_alert_deliveries"
        )
        return {key: (attempts, delivered) for key, attempts, delivered in cur.fetchall()}


def test_without_webhook_or_in_a_dry_run_nothing_is_sent_or_recorded(
    pipeline: Pipeline, receiver: Receiver
) -> None:
    pending = len(alerts(pipeline.url))
    assert pending > 0
    done = notify(pipeline.url, None)
    assert done.returncode == 0, done.stderr
    assert f"{pending} alert(s) pending; LOGML_ALERT_WEBHOOK_URL is not set" in done.stdout
    done = notify(pipeline.url, receiver.url, "--dry-run")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("would send ") == pending
    assert receiver.posts == []
    assert scalar(pipeline.url, "select count(*) from ml.ml_alert_deliveries") == 0


def test_each_alert_is_posted_once(pipeline: Pipeline, receiver: Receiver) -> None:
    url = pipeline.url
    first = set(alerts(url))

    # A failing receiver: every alert is tried, none counts as delivered, exit 1.
    receiver.status = 500
    done = notify(url, receiver.url)
    assert done.returncode == 1
    assert "HTTP 500" in done.stderr and "Traceback" not in done.stderr
    assert sorted(alert_key(body) for _, body in receiver.posts) == sorted(first)
    assert deliveries(url) == {key: (1, False) for key in first}

    # A receiver slower than --timeout: not delivered either (the next run sends it again).
    receiver.status, receiver.delay = 200, 1.5
    done = notify(url, receiver.url, "--timeout", "0.5", "--limit", "1")
    assert done.returncode == 1
    assert "no answer" in done.stderr
    assert sum(not delivered for _, delivered in deliveries(url).values()) == len(first)
    wait_for(lambda: len(receiver.posts) == len(first) + 1, 10, "the slow answer")

    # Two notifiers at once (both started while the test holds their lock, then released
    # together): between them every pending alert is posted exactly once, with a 2xx.
    receiver.posts.clear()
    receiver.delay = 0.0
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute("select pg_advisory_lock(hashtext('logml.notifier'))")
        runs = [start_notify(url, receiver.url) for _ in range(2)]
        wait_for(
            lambda: scalar(
                url,
                "select count(*) = 2 from pg_locks where locktype = 'advisory' and not granted "
                "and database = (select oid from pg_database where datname = current_database())",
            ),
            60,
            "both notifiers to wait for the lock",
        )
    outputs = [run.communicate(timeout=120)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert Counter(receiver.acked_keys()) == Counter(first)
    assert all(delivered for _, delivered in deliveries(url).values())
    body = receiver.posts[0][1]
    assert {"text", "blocks"} <= body.keys()
    assert [block["type"] for block in body["blocks"]] == [
        "header",
        "section",
        "section",
        "context",
    ]
    assert any(_escape(row["message"]) in body["text"] for row in alerts(url).values())

    # The second run posts nothing.
    done = notify(url, receiver.url)
    assert done.returncode == 0, done.stderr
    assert "0 sent, 0 failed, 0 pending" in done.stdout
    assert Counter(receiver.acked_keys()) == Counter(first)

    # A burst of a known ERROR template the next hour, a new dbt run: the incident is extended
    # and escalated, one new alert, posted once (the opened alert is not raised again).
    add_burst(
        url, pipeline.service, pipeline.error, pipeline.burst_hour + timedelta(hours=1), BURST
    )
    dbt(pipeline.project, url, "build")
    now = alerts(url)
    new = set(now) - first
    assert [(now[key]["alert_kind"], now[key]["service"]) for key in new] == [
        ("incident_escalated", pipeline.service)
    ]
    receiver.posts.clear()
    for _ in range(2):
        done = notify(url, receiver.url)
        assert done.returncode == 0, done.stderr
    assert Counter(receiver.acked_keys()) == Counter(new)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def test_the_notifier_redacts_the_message_and_the_incidents_example_line(
    pipeline: Pipeline, receiver: Receiver
) -> None:
    # a pending alert whose message and top template's example line end with a secret (as
    # ml_alerts would hold them had the redaction rules changed since it was built)
    secret = "hunter2zq9"
    with connect(pipeline.url) as conn:
        conn.execute(
            "create temp table leaky as"
            " select * from ml.ml_alerts where alert_kind = 'incident_opened' limit 1"
        )
        conn.execute(
            """
            update leaky set
                alert_key = alert_key || '-leaky',
                message = message || %(leak)s,
                details = jsonb_set(
                    details, '{templates,0,example,message}',
                    to_jsonb((details #>> '{templates,0,example,message}') || %(leak)s)
                )
            """,
            {"leak": f" password={secret}"},
        )
        conn.execute("insert into ml.ml_alerts select * from leaky")
    dry = notify(pipeline.url, receiver.url, "--dry-run")
    receiver.posts.clear()
    done = notify(pipeline.url, receiver.url)
    assert done.returncode == 0, done.stderr
    (post,) = [body for _, body in receiver.posts]
    sent = json.dumps(post)
    assert secret not in sent + dry.stdout + done.stdout
    fields = {f["text"].split("\n")[0]: f["text"] for f in post["blocks"][2]["fields"]}
    assert "password=[REDACTED:secret_field]" in fields["*Top template*"]
    assert "password=[REDACTED:secret_field]" in post["text"]
