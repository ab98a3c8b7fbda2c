"""Alerts end to end: the real pipeline (generated logs, trained and compiled models, dbt) with
bursts injected into new hours, then `python -m alerts notify` against a local HTTP
receiver. The rules themselves are pinned down by the dbt unit tests in
models/marts/monitoring/_monitoring__models.yml; here the alerts are checked against counts
taken straight from ml_predictions, and the delivery guarantee against what the receiver got."""

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
from dev.db import scalar, wait_for
from dev.pipeline import build, dbt, start_dbt
from tests.python.harness.webhook import Receiver, alert_key, notify, start_notify
from tests.python.harness.webhook import receiver as webhook_receiver

ROWS = 3000
BURST = 30  # lines per injected burst: above alert_min_lines (20) and alert_min_events (5)


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with webhook_receiver() as state:
        yield state


@dataclass(frozen=True)
class Pipeline:
    url: str
    project: Path
    services: list[str]  # busiest first: baselines well above alert_min_baseline_lines
    burst_hour: datetime  # the hour after the generated logs, where the first bursts went


def inject_burst(url: str, service: str, hour: datetime, which: str) -> None:
    """BURST copies (level, message, numbers) of lines the active model flagged `which`
    ('is_anomaly' or 'level_disagrees') into `service` at `hour`: the models see the same
    inputs, so they flag the copies the same way, whatever they learned."""
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            f"""
            insert into public.log_entries
                ("timestamp", level, message, service, host, category, http_status,
                 response_time_ms, source_type)
            select
                %(hour)s + make_interval(secs => 60 * row_number() over ()),
                e.level, e.message, %(service)s, e.host, e.category, e.http_status,
                e.response_time_ms, e.source_type
            from (
                select e.* from public.log_entries as e
                join ml.ml_predictions as p on p.log_entry_id = e.id
                where p.{which}
                order by e.id
                limit {BURST // 2}
            ) as e
            cross join generate_series(1, 2)
            """,
            {"hour": hour, "service": service},
        )
        assert cur.rowcount == BURST, f"only {cur.rowcount} lines flagged {which} to copy"


@pytest.fixture(scope="module")
def pipeline(module_db: str, dbt_project_copy: Path) -> Pipeline:
    url, project = module_db, dbt_project_copy
    build(url, project, ROWS, seed=17)
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            "select service from ml.ml_stats_hourly group by service "
            "order by sum(predictions) desc limit 3"
        )
        services = [row[0] for row in cur.fetchall()]
        cur.execute(
            "select date_trunc('hour', max(logged_at)) + interval '1 hour' from ml.ml_predictions"
        )
        burst_hour = cur.fetchone()[0]
    inject_burst(url, services[0], burst_hour, "is_anomaly")
    inject_burst(url, services[1], burst_hour, "level_disagrees")
    dbt(project, url, "build")
    return Pipeline(url, project, services, burst_hour)


def alerts(url: str) -> dict[str, tuple[Any, ...]]:
    """alert_key -> (kind, service, window_start, observed, baseline, message)."""
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            "select alert_key, alert_kind, service, window_start, observed, baseline, message "
            "from ml.ml_alerts"
        )
        return {key: tuple(rest) for key, *rest in cur.fetchall()}


def test_alerts_match_counts_taken_from_predictions(pipeline: Pipeline) -> None:
    url, hour = pipeline.url, pipeline.burst_hour
    raised = alerts(url)
    by_slice = {(kind, service, start): row for kind, service, start, *row in raised.values()}

    # Every (service, hour) of the last 24 hours with >= 3 high-severity lines has its alert,
    # with the count, and no other hour of that window has one.
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            """
            select coalesce(service, '(none)'), date_trunc('hour', logged_at), count(*)
            from ml.ml_predictions
            where severity in ('critical', 'high')
              and logged_at >= %(hour)s + interval '1 hour' - interval '24 hours'
            group by 1, 2
            having count(*) >= 3
            """,
            {"hour": hour},
        )
        expected = {(service, start): count for service, start, count in cur.fetchall()}
    assert (pipeline.services[0], hour) in expected
    in_window = {
        (service, start): observed
        for (kind, service, start), (observed, *_) in by_slice.items()
        if kind == "high_severity_anomaly" and start >= hour + timedelta(hours=1 - 24)
    }
    assert in_window == expected

    # The injected bursts are spikes against their services' own baselines.
    anomalies = by_slice[("anomaly_rate_spike", pipeline.services[0], hour)]
    disagreements = by_slice[("level_disagreement_spike", pipeline.services[1], hour)]
    assert anomalies[0] == _rate(url, pipeline.services[0], hour, "is_anomaly", "true")
    assert disagreements[0] == _rate(
        url, pipeline.services[1], hour, "level_disagrees", "logged_level is not null"
    )
    for observed, baseline, _message in (anomalies, disagreements):
        assert observed >= max(3 * baseline, baseline + 0.05)
    assert "Anomaly rate spike on " + pipeline.services[0] in anomalies[2]

    # A rerun inserts nothing; a full refresh derives the same keys (none new to send).
    dbt(pipeline.project, url, "run", "-s", "ml_alerts")
    assert alerts(url).keys() == raised.keys()
    dbt(pipeline.project, url, "run", "-s", "ml_alerts", "--full-refresh")
    assert alerts(url).keys() <= raised.keys()
    assert (pipeline.services[0], hour) in {
        (service, start) for kind, service, start, *_ in alerts(url).values()
    }


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
    added = {"title": "Incident opened", "observed": "lines", "description": "a new incident"}
    variables = {
        "alert_kinds": {**kinds, "incident_opened": added},
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
        "accepted_values_ml_alerts_alert_kind*.sql": [*kinds, "incident_opened"],
        "accepted_values_ml_alerts_severity*.sql": variables["alert_severities"],
        "accepted_values_ml_predictions_severity*.sql": variables["severities"],
    }
    for pattern, names in tests.items():
        assert _names_in(compiled, pattern, "not in (") == names, pattern

    del kinds["drift"]
    code, output = _compile(pipeline, {"alert_kinds": kinds}, "ml_alerts")
    assert code != 0
    assert "alert kind 'drift' is not in var alert_kinds: add it" in output, output[-4000:]


def _rate(url: str, service: str, hour: datetime, flag: str, among: str) -> float:
    return float(
        scalar(
            url,
            f"""
            select (count(*) filter (where {flag}))::float8 / count(*)
            from ml.ml_predictions
            where service = %s and logged_at >= %s and logged_at < %s + interval '1 hour'
              and {among}
            """,
            (service, hour, hour),
        )
    )


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
    assert any(_escape(row[-1]) in body["text"] for row in alerts(url).values())

    # The second run posts nothing.
    done = notify(url, receiver.url)
    assert done.returncode == 0, done.stderr
    assert "0 sent, 0 failed, 0 pending" in done.stdout
    assert Counter(receiver.acked_keys()) == Counter(first)

    # A new burst, a new dbt run: only the new alerts are posted, once.
    inject_burst(url, pipeline.services[2], pipeline.burst_hour + timedelta(hours=1), "is_anomaly")
    dbt(pipeline.project, url, "build")
    new = set(alerts(url)) - first
    assert new
    receiver.posts.clear()
    for _ in range(2):
        done = notify(url, receiver.url)
        assert done.returncode == 0, done.stderr
    assert Counter(receiver.acked_keys()) == Counter(new)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
