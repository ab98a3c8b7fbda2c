"""The dashboard in headless Chromium against a database filled by the real pipeline (v1 active,
v2 exported as the challenger, both scoring the newest logs): the cards, charts and the
champion/challenger panel must show the numbers in the database. Saves
test-artifacts/dashboard.png."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.python.harness.api import app, serve
from tests.python.harness.browser import ARTIFACTS, chromium
from tests.python.harness.db import records
from tests.python.harness.pipeline import add_challenger, build

LOG_ROWS = 3000


@pytest.fixture(scope="module")
def pipeline(module_db: str, dbt_project_copy: Path) -> str:
    build(module_db, dbt_project_copy, LOG_ROWS, seed=7)
    add_challenger(module_db, dbt_project_copy)
    return module_db


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


@pytest.fixture(scope="module")
def status_row(pipeline: str) -> dict[str, Any]:
    (row,) = records(pipeline, "select * from ml.ml_status")
    return row


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
