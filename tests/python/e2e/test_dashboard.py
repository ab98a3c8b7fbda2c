"""The dashboard in headless Chromium against a database filled by the real pipeline (v1 active,
v2 exported as the challenger, both scoring the newest logs; an incident opened and escalated by
bursts of known templates, its first alert delivered by the notifier): the cards, charts, the
champion/challenger panel, drift, model health and the incidents timeline must show the numbers
in the database; /docs renders offline. Saves test-artifacts/dashboard.png,
test-artifacts/incidents.png and test-artifacts/docs.png."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from dbt_project.vocabulary import VOCABULARY
from dev.api_server import app, get, serve, start_api
from dev.db import as_reader, fetch_all, records, scalar
from dev.pipeline import repository_copy
from tests.python.harness.browser import ARTIFACTS, chromium
from tests.python.harness.bursts import raise_an_incident
from tests.python.harness.prepared import Prepared
from tests.python.harness.webhook import notify, receiver


@pytest.fixture(scope="module")
def pipeline(challenged: Prepared) -> str:
    # an incident opened and escalated by bursts of known templates; the real notifier
    # delivers its first alert only
    raise_an_incident(challenged.url, challenged.project)
    with receiver() as hook:
        done = notify(challenged.url, hook.url, "--limit", "1")
        assert done.returncode == 0, done.stdout + done.stderr
    return challenged.url


@pytest.fixture(scope="module")
def site(pipeline: str) -> Iterator[str]:
    with serve(app(pipeline)) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    with chromium() as driver:
        yield driver


@pytest.fixture(scope="module")
def page(browser: webdriver.Chrome, site: str) -> webdriver.Chrome:
    browser.get(f"{site}/")
    WebDriverWait(browser, 30).until(
        lambda d: d.execute_script("return document.body.dataset.loaded") == "true"
    )
    return browser


def value(page: webdriver.Chrome, element_id: str) -> str:
    return str(page.find_element(By.ID, element_id).get_attribute("data-value"))


def test_page_renders_and_is_saved_as_a_screenshot(page: webdriver.Chrome) -> None:
    height = page.execute_script("return document.documentElement.scrollHeight")
    page.set_window_size(1440, height)
    ARTIFACTS.mkdir(exist_ok=True)
    assert page.save_screenshot(str(ARTIFACTS / "dashboard.png"))
    assert page.find_element(By.ID, "banner").get_attribute("hidden") is not None
    errors = [e for e in page.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []


def test_header_and_cards_show_the_status_row(
    page: webdriver.Chrome, status_row: dict[str, Any]
) -> None:
    assert page.find_element(By.ID, "state").text == "ready"
    assert page.find_element(By.ID, "model-version").text == status_row["active_model_version"]
    next_run = status_row["next_run_due_at"].strftime("%Y-%m-%d %H:%M UTC")
    assert page.find_element(By.ID, "next-run").text == next_run
    assert int(value(page, "card-scored")) == status_row["total_predictions"] > 0
    assert page.find_element(By.ID, "card-scored").text == f"{status_row['total_predictions']:,}"
    assert int(value(page, "card-anomalies")) == status_row["anomaly_count"]
    assert int(value(page, "card-high")) == status_row["high_severity_count"]
    rate = 100 * status_row["anomaly_count"] / status_row["total_predictions"]
    assert float(value(page, "card-anomaly-rate")) == pytest.approx(rate, abs=0.005)


def test_severity_chart_and_disagreements_card_show_the_24h_window(
    page: webdriver.Chrome, pipeline: str, status_row: dict[str, Any]
) -> None:
    rows = records(
        pipeline,
        "select severity, predictions, level_disagreements from ml.ml_stats_windows"
        " where window_name = '24h' and model_version = %(v)s",
        {"v": status_row["active_model_version"]},
    )
    bars = page.find_elements(By.CSS_SELECTOR, "#chart-severity g[data-severity]")
    assert {
        b.get_attribute("data-severity"): int(b.get_attribute("data-count") or -1) for b in bars
    } == {r["severity"]: r["predictions"] for r in rows}
    # worst first, and the same severities to filter the predictions by (var severities)
    assert [b.get_attribute("data-severity") for b in bars] == list(VOCABULARY.severities)
    options = Select(page.find_element(By.NAME, "severity")).options
    assert [o.text for o in options] == ["any", *VOCABULARY.severities]
    assert int(value(page, "card-disagreements")) == sum(r["level_disagreements"] for r in rows)


def test_anomaly_chart_has_a_bar_per_hour_with_the_hourly_counts(
    page: webdriver.Chrome, pipeline: str, status_row: dict[str, Any]
) -> None:
    rows = records(
        pipeline,
        "select hour, sum(anomalies) as anomalies, sum(predictions) as predictions"
        " from ml.ml_stats_hourly where model_version = %(v)s"
        " and hour > (select max(hour) from ml.ml_stats_hourly where model_version = %(v)s)"
        "   - interval '48 hours'"
        " group by hour order by hour",
        {"v": status_row["active_model_version"]},
    )
    bars = page.find_elements(By.CSS_SELECTOR, "#chart-hourly rect[data-hour]")
    assert [
        (
            int(b.get_attribute("data-anomalies") or -1),
            int(b.get_attribute("data-predictions") or -1),
        )
        for b in bars
    ] == [(r["anomalies"], r["predictions"]) for r in rows]
    assert any(r["anomalies"] for r in rows), "the generated logs have anomalies in the last 48 h"


def test_level_matrix_shows_logged_against_predicted(
    page: webdriver.Chrome, pipeline: str, status_row: dict[str, Any]
) -> None:
    rows = records(
        pipeline,
        "select h.logged_level, h.predicted_level, sum(h.predictions) as predictions"
        " from ml.ml_stats_hourly as h join ml.ml_stats_windows as w"
        "   on w.model_version = h.model_version and w.window_name = '24h' and w.severity = 'info'"
        " where h.model_version = %(v)s and h.hour >= w.window_start and h.hour < w.window_end"
        " group by 1, 2",
        {"v": status_row["active_model_version"]},
    )
    cells = page.find_elements(By.CSS_SELECTOR, "#chart-levels td[data-logged]")
    shown = {
        (c.get_attribute("data-logged"), c.get_attribute("data-predicted")): int(
            c.get_attribute("data-count") or -1
        )
        for c in cells
    }
    assert {key: count for key, count in shown.items() if count} == {
        (r["logged_level"], r["predicted_level"]): r["predictions"] for r in rows
    }


def test_predictions_table_lists_the_newest_and_filters(
    page: webdriver.Chrome, pipeline: str, status_row: dict[str, Any]
) -> None:
    newest = records(
        pipeline,
        "select log_entry_id, severity from ml.ml_predictions where model_version = %(v)s"
        " order by logged_at desc, log_entry_id desc limit 25",
        {"v": status_row["active_model_version"]},
    )
    ids = [
        int(r.get_attribute("data-log-entry-id") or -1)
        for r in page.find_elements(By.CSS_SELECTOR, "#predictions tbody tr")
    ]
    assert ids == [r["log_entry_id"] for r in newest]

    Select(page.find_element(By.NAME, "severity")).select_by_visible_text("high")
    WebDriverWait(page, 10).until(
        lambda d: (
            d.find_element(By.ID, "predictions").get_attribute("data-filters") == "severity=high"
        )
    )
    high = records(
        pipeline,
        "select log_entry_id from ml.ml_predictions where model_version = %(v)s"
        " and severity = 'high' order by logged_at desc, log_entry_id desc limit 25",
        {"v": status_row["active_model_version"]},
    )
    rows = page.find_elements(By.CSS_SELECTOR, "#predictions tbody tr")
    assert [int(r.get_attribute("data-log-entry-id") or -1) for r in rows] == [
        r["log_entry_id"] for r in high
    ]
    assert high, "the generated logs contain high-severity predictions"


def test_comparison_panel_shows_the_roles_and_each_day_compared(
    page: webdriver.Chrome, pipeline: str
) -> None:
    versions = page.find_elements(By.CSS_SELECTOR, "#versions li[data-version]")
    assert {(v.get_attribute("data-version"), v.get_attribute("data-role")) for v in versions} == {
        ("v1", "active"),
        ("v2", "challenger"),
    }
    assert page.find_element(By.ID, "comparison").get_attribute("data-pair") == "v1|v2"
    rows = records(
        pipeline,
        "select day, logs_compared, level_agreement, anomaly_agreement, baseline_anomaly_rate,"
        " candidate_anomaly_rate from ml.ml_model_comparison"
        " where baseline_version = 'v1' and candidate_version = 'v2'"
        " and day > (select max(day) from ml.ml_model_comparison) - 30 order by day",
    )
    columns = ("level-agreement", "anomaly-agreement", "baseline-rate", "candidate-rate")
    shown = [
        (
            tr.get_attribute("data-day"),
            int(tr.get_attribute("data-logs") or -1),
            *(float(tr.get_attribute(f"data-{column}") or -1) for column in columns),
        )
        for tr in page.find_elements(By.CSS_SELECTOR, "#comparison tbody tr[data-day]")
    ]
    assert rows and shown == [
        (
            r["day"].isoformat(),
            r["logs_compared"],
            r["level_agreement"],
            r["anomaly_agreement"],
            r["baseline_anomaly_rate"],
            r["candidate_anomaly_rate"],
        )
        for r in rows
    ]
    # one line each: baseline and candidate anomaly rates, level agreement
    assert len(page.find_elements(By.CSS_SELECTOR, "#chart-comparison polyline")) == 3


def test_header_says_when_the_newest_log_arrived_and_that_scoring_is_up_to_date(
    page: webdriver.Chrome, pipeline: str
) -> None:
    (fresh,) = records(pipeline, "select * from ml.ml_log_freshness")
    arrived = fresh["newest_log_arrived_at"].strftime("%Y-%m-%d %H:%M UTC")
    assert page.find_element(By.ID, "newest-log").text == arrived
    scoring = page.find_element(By.ID, "scoring")
    assert scoring.get_attribute("data-behind") == "false" and scoring.text == "up to date"


def test_drift_panel_draws_each_feature_against_the_threshold(
    page: webdriver.Chrome, pipeline: str, status_row: dict[str, Any]
) -> None:
    rows = records(
        pipeline,
        "select feature, psi, alert_threshold from ml.ml_drift where model_version = %(v)s",
        {"v": status_row["active_model_version"]},
    )
    bars = page.find_elements(By.CSS_SELECTOR, "#chart-drift g[data-feature]")
    assert {
        b.get_attribute("data-feature"): float(b.get_attribute("data-psi") or -1) for b in bars
    } == {r["feature"]: pytest.approx(r["psi"]) for r in rows}
    threshold = page.find_element(By.ID, "drift-panel").get_attribute("data-threshold")
    assert float(threshold or -1) == rows[0]["alert_threshold"]
    assert page.find_elements(By.CSS_SELECTOR, "#chart-drift line.drift-threshold")


def test_model_health_panel_has_a_bar_pair_per_day(
    page: webdriver.Chrome, pipeline: str, status_row: dict[str, Any]
) -> None:
    rows = records(
        pipeline,
        "select day, sum(under_logged) as under, sum(over_logged) as over,"
        " sum(agreements)::float8 / nullif(sum(known_level_predictions), 0) as agreement"
        " from ml.ml_model_health where model_version = %(v)s"
        " and day > (select max(day) from ml.ml_model_health where model_version = %(v)s)"
        "   - interval '30 days'"
        " group by day order by day",
        {"v": status_row["active_model_version"]},
    )
    days = page.find_elements(By.CSS_SELECTOR, "#chart-health g[data-day]")
    assert [
        (
            d.get_attribute("data-day"),
            int(d.get_attribute("data-under") or -1),
            int(d.get_attribute("data-over") or -1),
            float(d.get_attribute("data-agreement") or -1),
        )
        for d in days
    ] == [
        (r["day"].date().isoformat(), r["under"], r["over"], pytest.approx(r["agreement"]))
        for r in rows
    ]
    assert page.find_elements(By.CSS_SELECTOR, "#chart-health polyline.line-agreement")


def test_incidents_timeline_draws_each_incident_with_its_alerts(
    page: webdriver.Chrome, pipeline: str
) -> None:
    incidents = records(
        pipeline,
        "select incident_id, service, severity, state, opened_severity from ml.ml_incidents"
        " where model_version = 'v1' order by started_at desc, incident_id desc",
    )
    assert any(
        (i["opened_severity"], i["severity"], i["state"]) == ("medium", "high", "open")
        for i in incidents
    ), incidents
    # a bar per incident, on its service's lane, coloured by severity and state
    bars = page.find_elements(By.CSS_SELECTOR, "#chart-incidents rect.incident-bar")
    assert sorted(
        (b.get_attribute("data-incident-id"), b.get_attribute("data-service"),
         b.get_attribute("data-severity"), b.get_attribute("data-state"))
        for b in bars
    ) == sorted(
        (i["incident_id"], i["service"], i["severity"], i["state"]) for i in incidents
    )  # fmt: skip
    lanes = page.find_elements(By.CSS_SELECTOR, "#chart-incidents text.lane-label")
    assert [t.text for t in lanes] == sorted({i["service"] for i in incidents})
    # the table, newest first, each incident with its alerts and their delivery
    shown = page.find_elements(By.CSS_SELECTOR, "#incidents tbody tr[data-incident-id]")
    assert [tr.get_attribute("data-incident-id") for tr in shown] == [
        i["incident_id"] for i in incidents
    ]
    alerts = records(
        pipeline,
        "select a.alert_key, a.alert_kind, a.details ->> 'incident_id' as incident_id,"
        " case when d.delivered_at is null then 'pending' else 'delivered' end as state"
        " from ml.ml_alerts as a left join ml.ml_alert_deliveries as d using (alert_key)"
        " where a.alert_kind <> 'drift'",
    )
    assert {a["state"] for a in alerts} == {"delivered", "pending"}
    titles = {kind.name: kind.title for kind in VOCABULARY.alert_kinds}
    pills = page.find_elements(
        By.CSS_SELECTOR, "#incidents tbody tr[data-incident-id] .pill[data-alert-key]"
    )
    assert sorted(
        (p.get_attribute("data-alert-key"), p.find_element(By.XPATH, "ancestor::tr")
         .get_attribute("data-incident-id"), p.get_attribute("data-state"), p.text)
        for p in pills
    ) == sorted((a["alert_key"], a["incident_id"], a["state"], titles[a["alert_kind"]])
                for a in alerts)  # fmt: skip
    (total,) = records(pipeline, "select count(*) as n from ml.ml_alerts")
    panel = page.find_element(By.ID, "incidents-panel")
    assert int(panel.get_attribute("data-delivered") or -1) == 1
    assert int(panel.get_attribute("data-pending") or -1) == total["n"] - 1
    ARTIFACTS.mkdir(exist_ok=True)
    assert panel.screenshot(str(ARTIFACTS / "incidents.png"))


def test_a_kind_added_to_the_list_is_served_and_drawn(pipeline: str, tmp_path: Path) -> None:
    """A kind added to var alert_kinds (in a copy of the repository, served by its own
    `python -m api`) is accepted by the API's filter and drawn by the page with its title,
    though no code names it. The newest incident alert stands in for one raised by a new
    rule."""
    copy = repository_copy(tmp_path / "repository")
    project = yaml.safe_load((copy / "dbt_project.yml").read_text())
    added = {"title": "Incident merged", "observed": "lines", "description": "two became one"}
    project["vars"]["alert_kinds"]["incident_merged"] = added
    (copy / "dbt_project.yml").write_text(yaml.safe_dump(project, sort_keys=False))
    newest = (
        "select alert_key from ml.ml_alerts where alert_kind <> 'drift'"
        " order by detected_at desc, window_start desc, alert_key limit 1"
    )
    key, kind, incident = fetch_all(
        pipeline,
        "select alert_key, alert_kind, details ->> 'incident_id' from ml.ml_alerts"
        f" where alert_key = ({newest})",
    )[0]
    scalar(
        pipeline,
        "update ml.ml_alerts set alert_kind = 'incident_merged' where alert_key = %s"
        " returning alert_key",
        (key,),
    )
    # the copy's packages, not the checkout's: -m would put the working directory first
    api = start_api(as_reader(pipeline), env={"PYTHONSAFEPATH": "1", "PYTHONPATH": str(copy)})
    try:
        status, body, _ = get(api.base, "/api/v1/alerts?kind=incident_merged")
        assert status == 200 and [a["alert_key"] for a in json.loads(body)["alerts"]] == [key]
        with chromium() as browser:
            browser.get(f"{api.base}/")
            WebDriverWait(browser, 30).until(
                lambda d: d.execute_script("return document.body.dataset.loaded") == "true"
            )
            pill = browser.find_element(
                By.CSS_SELECTOR,
                f"#incidents tr[data-incident-id='{incident}'] .pill[data-alert-key='{key}']",
            )
            assert pill.get_attribute("data-alert-kind") == "incident_merged"
            assert pill.text == "Incident merged"
    finally:
        api.stop()
        scalar(
            pipeline,
            "update ml.ml_alerts set alert_kind = %s where alert_key = %s returning alert_key",
            (kind, key),
        )


def test_docs_render_offline(site: str) -> None:
    with chromium() as browser:
        _check_docs(browser, site)


def _check_docs(browser: webdriver.Chrome, site: str) -> None:
    browser.get(f"{site}/docs")
    WebDriverWait(browser, 30).until(
        lambda d: len(d.find_elements(By.CSS_SELECTOR, ".opblock")) >= 18
    )
    resources = browser.execute_script(
        "return performance.getEntriesByType('resource').map((r) => r.name)"
    )
    assert resources and all(url.startswith(site) for url in resources), resources
    paths = {e.text for e in browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")}
    assert {"/api/v1/alerts", "/api/v1/drift", "/api/metrics", "/api/logs"} <= paths
    ARTIFACTS.mkdir(exist_ok=True)
    assert browser.save_screenshot(str(ARTIFACTS / "docs.png"))
