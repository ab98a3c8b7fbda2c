"""The old system's Vue frontend against this API: a contract test per endpoint and field it
reads (the frontend itself cannot be cloned here). Each assertion names the frontend file and
field it stands for (versions as in the contract written from the old repository,
jp3tty/engineering-log-intelligence: frontend/src/...@commit) and checks the value against the
database filled by the real pipeline, so no page can fall back to a mock number:
- a page shows its mock when `success` is false, a list is empty where it needs items, or a
  field is missing; the checks below rule each of those out;
- every number is compared with the table it comes from;
- what this system cannot know is null/empty, never a constant that looks measured."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from dbt_project.database import PROJECT_ROOT
from dbt_project.settings import load_settings
from dev.db import as_reader, records
from tests.python.harness.prepared import BUILT_ROWS, Prepared

LOG_ROWS = BUILT_ROWS
# The old frontend's mock numbers (contract §4, §6): none may come out of this API.
MOCK_NUMBERS = {156_789, 94.7, 145, 0.145, 12_456, 1_034, 234, 8.3, 125_000, 89, 94.5, 99.9}


@pytest.fixture(scope="module")
def pipeline(built: Prepared) -> str:
    return built.url


@pytest.fixture(scope="module")
def window(pipeline: str) -> dict[str, Any]:
    """The 24h window the old endpoints report (ml_stats_windows), with its totals."""
    rows = records(
        pipeline,
        "select w.* from ml.ml_stats_windows as w join ml.ml_status as s"
        " on w.model_version = s.active_model_version where w.window_name = '24h'",
    )
    by_severity = {row["severity"]: row["predictions"] for row in rows}
    levels = records(
        pipeline,
        "select h.logged_level, sum(h.predictions) as n from ml.ml_stats_hourly as h"
        " join ml.ml_status as s on h.model_version = s.active_model_version"
        " where h.hour >= %(start)s and h.hour < %(end)s group by 1",
        {"start": rows[0]["window_start"], "end": rows[0]["window_end"]},
    )
    return {
        "start": rows[0]["window_start"],
        "end": rows[0]["window_end"],
        "total": sum(by_severity.values()),
        "anomalies": sum(row["anomalies"] for row in rows),
        "by_severity": by_severity,
        "levels": {row["logged_level"]: int(row["n"]) for row in levels},
    }


@pytest.fixture(scope="module")
def timed_hours(pipeline: str, window: dict[str, Any]) -> list[dict[str, Any]]:
    """Per hour of the window that has any, the response times of the lines the active version
    scored: recounted from the source table, not read from ml_response_times_hourly."""
    return records(
        pipeline,
        "select date_trunc('hour', p.logged_at) as hour, count(e.response_time_ms) as n,"
        " sum(e.response_time_ms)::float8 as total,"
        " percentile_cont(0.95) within group (order by e.response_time_ms::float8) as p95"
        " from ml.ml_predictions as p join ml.ml_status as s"
        " on p.model_version = s.active_model_version"
        " join public.log_entries as e on e.id = p.log_entry_id"
        " where p.logged_at >= %(start)s and p.logged_at < %(end)s"
        " group by 1 having count(e.response_time_ms) > 0 order by 1",
        {"start": window["start"], "end": window["end"]},
    )


def average_ms(timed_hours: list[dict[str, Any]]) -> float:
    return round(sum(row["total"] for row in timed_hours) / sum(row["n"] for row in timed_hours), 1)


def numbers(value: Any) -> Iterator[float]:
    """Every number inside a JSON value."""
    if isinstance(value, bool):
        return
    if isinstance(value, int | float):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from numbers(item)
    elif isinstance(value, list):
        for item in value:
            yield from numbers(item)


# --- /api/ml_lightweight (MLDashboard, MLSummaryWidget, AnalyticsInsights) -----------------------
def test_status_fills_every_field_the_ml_page_shows(client: TestClient, pipeline: str) -> None:
    (status,) = records(pipeline, "select * from ml.ml_status")
    body = client.get("/api/ml_lightweight?action=status").json()
    # components/MLDashboard.vue@11725e75 status card: 'active' -> "Active", else "Offline";
    # composables/useMLData.js@747df741 isMLActive gates MLSummaryWidget's numbers
    assert body["success"] is True and body["ml_system"] == "active"
    # MLDashboard "Architecture:" (N/A when missing): what this system really is
    assert "dbt" in body["architecture"] and "PostgreSQL" in body["architecture"]
    # MLDashboard "Total Predictions:" toLocaleString
    assert body["total_predictions"] == status["total_predictions"] > 0
    # MLDashboard "Latest Update:" formatTime(latest_prediction) ("Never" when null)
    assert datetime.fromisoformat(body["latest_prediction"]) == status["latest_prediction_at"]
    # MLDashboard "Query Time:" raw string (N/A when missing): measured, not "~10ms"
    assert body["query_time"] == f"{body['query_time_ms']}ms (database)"
    assert 0 < body["query_time_ms"] < 5000
    # guide fields not read by a page, filled truthfully: the model version scoring, and no
    # claimed compute time (dbt's run time is not in the database)
    assert status["active_model_version"] in body["prediction_source"]
    assert "ML libraries" in body["deployment_size"]
    assert body["ml_compute_time"] is None and body["ml_compute_time_note"]
    # freshness: the pipeline scored every log it loaded
    assert body["scoring_behind"] is False and body["unscored_logs"] == 0


def test_stats_in_the_old_order_and_units(client: TestClient, window: dict[str, Any]) -> None:
    body = client.get("/api/ml_lightweight?action=stats").json()
    stats = body["statistics"]
    # useMLData.js@747df741 fetchMLStats: mock (1,034 / 234 / 8.3%) when !success && !statistics
    assert body["success"] is True and stats
    # MLDashboard "Total Analyzed" (label "Last 24 hours") and the bars' divisor
    assert stats["total_predictions"] == window["total"] > 0
    # MLDashboard "Anomalies Detected"; useMLData anomalyCount -> widget "Anomalies"
    assert stats["anomaly_count"] == window["anomalies"]
    # MLDashboard `(anomaly_rate||0).toFixed(1)+'% rate'`: a percent since BUGFIX_ANOMALY_RATE
    assert stats["anomaly_rate"] == pytest.approx(100 * window["anomalies"] / window["total"], 0.01)
    # MLDashboard draws the bars in the order received: largest first, as the old API sent
    distribution = stats["severity_distribution"]
    counts = [entry["count"] for entry in distribution]
    assert counts == sorted(counts, reverse=True) and all(counts)
    assert {d["severity"]: d["count"] for d in distribution} == {
        severity: n for severity, n in window["by_severity"].items() if n
    }
    # MLDashboard getHighSeverityCount / useMLData highSeverityCount: find(severity=='high'),
    # 0 when there is none (then no 'high' entry, as the old API sent no empty severity)
    high = [d["count"] for d in distribution if d["severity"] == "high"]
    assert sum(high) == window["by_severity"]["high"]
    # widget "Updated Nm ago"
    datetime.fromisoformat(body["timestamp"])


def test_analyze_rows_have_every_field_the_table_and_the_insights_read(
    client: TestClient, pipeline: str
) -> None:
    body = client.get("/api/ml_lightweight?action=analyze").json()
    newest = records(
        pipeline,
        "select p.* from ml.ml_predictions as p join ml.ml_status as s"
        " on p.model_version = s.active_model_version"
        " order by p.logged_at desc, p.log_entry_id desc limit 100",
    )
    assert body["success"] is True and body["total"] == len(body["results"]) == 100
    # the guide's Step 4.1 logs data.query_time
    assert body["query_time"].endswith("ms (database)")
    for row, expected in zip(body["results"], newest, strict=True):
        # MLDashboard table: log_id (<code> and v-for key), message, predicted_level badge,
        # level_confidence (x*100).toFixed(1)+'%' (0..1), is_anomaly, severity badge
        assert row["log_id"] == expected["log_id"] and row["log_id"]
        assert row["message"] == expected["message"]
        assert row["predicted_level"] == expected["predicted_level"]
        assert row["level_confidence"] == pytest.approx(expected["level_confidence"])
        assert 0 <= row["level_confidence"] <= 1
        assert row["is_anomaly"] == expected["is_anomaly"]
        assert row["severity"] == expected["severity"]
        # useMLData formattedAnomalies -> AnalyticsInsights cards: anomaly_score (confidence,
        # 0.5 when missing), predicted_at (detected_at), actual_level (affected_systems)
        assert row["anomaly_score"] == pytest.approx(expected["anomaly_score"])
        assert datetime.fromisoformat(row["predicted_at"]) == expected["predicted_at"]
        assert row["actual_level"] == expected["logged_level"]
    # AnalyticsInsights shows its mock anomaly cards when no row is an anomaly
    any_anomaly = records(
        pipeline,
        "select bool_or(p.is_anomaly) as found from (select p.is_anomaly from ml.ml_predictions"
        " as p order by p.logged_at desc, p.log_entry_id desc limit 100) as p",
    )[0]["found"]
    assert any(row["is_anomaly"] for row in body["results"]) == any_anomaly


# --- /api/metrics (App.vue + stores/system.js, Dashboard.vue cards, AnalyticsDashboard) -------
def test_metrics_fill_the_cards_and_the_health(
    client: TestClient, window: dict[str, Any], timed_hours: list[dict[str, Any]]
) -> None:
    body = client.get("/api/metrics").json()
    metrics = body["metrics"]
    # stores/system.js@747df741 checkSystemHealth: mock "Healthy 94.7" unless success && metrics;
    # useMLData.js fetchRealMetrics: mock 156,789 / 0.145 / 94.7 unless success
    assert body["success"] is True and metrics
    # Dashboard.vue@6e2ca334 card "Logs Processed"; AnalyticsDashboard "Total Logs Processed"
    assert metrics["total_logs"] == window["total"] > 0
    # Dashboard card "Active Alerts" (links to /ml-analytics)
    high = window["by_severity"]["high"] + window["by_severity"]["critical"]
    assert metrics["high_anomaly_count"] == high
    # Dashboard card "Response Time" Math.round(x||0)+'ms': the demo source has response_time_ms
    assert timed_hours
    assert metrics["avg_response_time_ms"] == average_ms(timed_hours) > 0
    # system.js status text (>=97 Excellent, >=88 Healthy, >=80 Degraded) and the header; the
    # old formula over the logged levels of the window
    levels = window["levels"]
    known = sum(n for level, n in levels.items() if level != "(unknown)")
    fatal = 100 * levels.get("FATAL", 0) / known
    error = 100 * levels.get("ERROR", 0) / known
    assert metrics["fatal_rate"] == pytest.approx(fatal, abs=0.005)
    assert metrics["error_rate"] == pytest.approx(error, abs=0.005)
    assert metrics["high_anomaly_rate"] == pytest.approx(100 * high / window["total"], abs=0.005)
    health = (
        99
        - 3 * round(fatal, 2)
        - 0.5 * round(error, 2)
        - 0.3 * round(100 * high / window["total"], 2)
    )
    assert metrics["system_health"] == pytest.approx(min(max(health, 85), 99.9), abs=0.06)
    assert datetime.fromisoformat(body["window_end"]) == window["end"]


# --- /api/service_health (Dashboard.vue fetchServiceHealth, TreeMapChart.vue) -----------------
def test_service_health_is_a_non_empty_tree_of_read_statuses(client: TestClient) -> None:
    body = client.get("/api/service_health").json()
    # Dashboard.vue@6e2ca334 fetchServiceHealth: generateFallbackServiceHealth unless
    # success && services
    assert body["success"] is True and body["services"]
    # flatServiceHealthData: a top-level service with children contributes its children;
    # TreeMapChart.vue@09eae0f1 draws its own mock when the flattened list is empty
    flat = [child for top in body["services"] for child in (top.get("children") or [top])]
    assert len(flat) >= 5
    names = {node["name"] for node in flat}
    assert {"PostgreSQL (API connection)", "dbt scoring run", "Level classifier"} <= names
    for node in flat:
        # colour by status (healthy, warning, degraded, unhealthy; others grey)
        assert node["status"] in {"healthy", "warning", "degraded", "unhealthy", "unknown"}
        # tooltip "Uptime: <uptime>%": `uptime||99.0` would print a made-up 99 for null or 0
        assert node["uptime"] == "n/a"
        # importance||20 (layout weight), responseTime||0
        assert node["importance"] > 0
        assert node["description"]
    database = next(n for n in flat if n["name"] == "PostgreSQL (API connection)")
    assert database["status"] == "healthy" and database["responseTime"] > 0  # measured
    scoring = next(n for n in flat if n["name"] == "dbt scoring run")
    assert scoring["status"] == "healthy"  # nothing unscored
    assert body["overall_status"] in {"healthy", "warning", "degraded", "unknown"}


# --- /api/dashboard_analytics (services/analytics.js, Dashboard.vue charts) -------------------
def test_dashboard_charts_are_the_window_per_hour_and_level(
    client: TestClient, pipeline: str, window: dict[str, Any], timed_hours: list[dict[str, Any]]
) -> None:
    response = client.get("/api/dashboard_analytics", params={"_t": 1})
    # services/analytics.js@f1728fe0 fetchDashboardAnalytics: axios throws on non-2xx, and the
    # page draws getMockAnalyticsData()
    assert response.status_code == 200
    body = response.json()
    hours = records(
        pipeline,
        "select h.hour, sum(h.predictions) as n from ml.ml_stats_hourly as h"
        " join ml.ml_status as s on h.model_version = s.active_model_version"
        " where h.hour >= %(start)s and h.hour < %(end)s group by 1",
        {"start": window["start"], "end": window["end"]},
    )
    per_hour = {row["hour"]: int(row["n"]) for row in hours}
    # Dashboard.vue logVolumeData = logVolume (LineChart): 24 hourly points, labels = data
    volume = body["logVolume"]
    assert len(volume["labels"]) == len(volume["datasets"][0]["data"]) == 24
    assert volume["datasets"][0]["data"] == [
        per_hour.get(datetime.fromisoformat(hour), 0) for hour in volume["hours"]
    ]
    assert volume["labels"] == [
        datetime.fromisoformat(h).strftime("%H:00") for h in volume["hours"]
    ]
    # logDistributionData = logDistribution (BarChart): colours and legend in this order
    distribution = body["logDistribution"]
    assert distribution["labels"] == ["INFO", "WARN", "ERROR", "DEBUG", "FATAL"]
    assert distribution["datasets"][0]["data"] == [
        window["levels"].get(level, 0) for level in distribution["labels"]
    ]
    # responseTimeData = responseTime (LineChart): per hour with response times, the average
    # and the 95th percentile; a number in every point (an empty series draws NaN)
    chart = body["responseTime"]
    assert chart["labels"] == [row["hour"].strftime("%H:00") for row in timed_hours]
    assert [dataset["data"] for dataset in chart["datasets"]] == [
        [round(row["total"] / row["n"], 1) for row in timed_hours],
        [round(row["p95"], 1) for row in timed_hours],
    ]
    assert chart["timed_lines"] == [row["n"] for row in timed_hours]
    assert body["dataSource"] == "database"


def test_analytics_system_metrics_are_live(
    client: TestClient, pipeline: str, window: dict[str, Any], timed_hours: list[dict[str, Any]]
) -> None:
    """stores/analytics.js reads systemMetrics from /api/dashboard_analytics: logsProcessed
    ("Currently processing N total logs"), activeAlerts, responseTime, systemHealth, uptime."""
    body = client.get("/api/dashboard_analytics").json()
    metrics = body["systemMetrics"]
    (status,) = records(pipeline, "select * from ml.ml_status")
    assert metrics["logsProcessed"] == status["total_predictions"] > 0
    (alerts,) = records(
        pipeline,
        "select count(*) as n from ml.ml_alerts as a join ml.ml_status as s"
        " on a.model_version = s.active_model_version where a.window_end > %(end)s::timestamptz"
        " - interval '24 hours'",
        {"end": window["end"]},
    )
    assert metrics["activeAlerts"] == alerts["n"]
    assert metrics["responseTime"] == average_ms(timed_hours)
    assert metrics["systemHealth"] in {"Healthy", "Warning", "Degraded", "Critical", "Unknown"}
    # nothing waits to be scored in the built pipeline: every log of the window is scored
    assert metrics["uptime"] == "100.0%"
    assert set(body["systemMetricsNotes"]) == set(metrics)


# --- /api/monitoring (views/Monitoring.vue) -----------------------------------------------------
def test_monitoring_page_resources_alerts_and_incidents(
    client: TestClient, pipeline: str, window: dict[str, Any]
) -> None:
    body = client.get("/api/monitoring").json()
    # Monitoring.vue@11725e75 fetchMonitoringData checks success (else an error card)
    assert body["success"] is True
    data = body["data"]
    database = data["resources"]["database"]
    (status,) = records(pipeline, "select * from ml.ml_status")
    # "📦 Database Resources": size_formatted, total_logs.toLocaleString() (a number),
    # max_size_formatted, usage_percent (v-if), growth_rate
    assert database["size_formatted"].endswith(("MB", "kB", "GB"))
    assert database["total_logs"] == status["total_predictions"]
    assert database["max_size_formatted"] == "unknown" and database["usage_percent"] is None
    assert database["growth_rate"] == f"{window['total']:,} logs/day"
    # throughput.logs_per_hour.toLocaleString(): the 1h window
    (last_hour,) = records(
        pipeline,
        "select sum(w.predictions) as n from ml.ml_stats_windows as w join ml.ml_status as s"
        " on w.model_version = s.active_model_version where w.window_name = '1h'",
    )
    assert data["resources"]["throughput"]["logs_per_hour"] == last_hour["n"]
    # ml_predictions.count_24h.toLocaleString() + status ('active' -> green)
    assert data["resources"]["ml_predictions"] == {"count_24h": window["total"], "status": "active"}
    # "⚡ Response Time Distribution": Math.round(x)+'ms' and total_requests.toLocaleString()
    # need numbers; response times are not in the tables, and the body says so
    percentiles = data["percentiles"]
    assert percentiles["available"] is False
    assert all(percentiles[key] == 0 for key in ("p50", "p95", "p99", "min", "avg", "max"))
    assert percentiles["total_requests"] == 0
    # "🤖 ML alerts": timestamp, source_type, host, message, severity, anomaly_score (x*100)
    high = records(
        pipeline,
        "select p.log_entry_id from ml.ml_predictions as p join ml.ml_status as s"
        " on p.model_version = s.active_model_version where p.severity in ('critical', 'high')"
        " and p.logged_at >= %(start)s and p.logged_at < %(end)s"
        " order by p.logged_at desc, p.log_entry_id desc limit 25",
        {"start": window["start"], "end": window["end"]},
    )
    # (an empty list hides the section: no mock)
    assert [line["log_entry_id"] for line in data["ml_alerts"]] == [r["log_entry_id"] for r in high]
    # "🚨 Recent Incidents": level (FATAL red), timestamp, source_type, message, host, service
    incidents = records(
        pipeline,
        "select p.log_entry_id from ml.ml_predictions as p join ml.ml_status as s"
        " on p.model_version = s.active_model_version where p.logged_level in ('ERROR', 'FATAL')"
        " and p.logged_at >= %(start)s and p.logged_at < %(end)s"
        " order by p.logged_at desc, p.log_entry_id desc limit 50",
        {"start": window["start"], "end": window["end"]},
    )
    assert [line["log_entry_id"] for line in data["incidents"]] == [
        r["log_entry_id"] for r in incidents
    ]
    for line in data["ml_alerts"] + data["incidents"]:
        assert line["log_id"] and isinstance(line["message"], str) and line["timestamp"]
        assert line["source_type"] and line["host"] and line["service"]
        assert line["response_time_ms"] is None and line["http_status"] is None


# --- /api/logs and POST /api/ml (views/LogAnalysis.vue) -----------------------------------------
def test_logs_page_is_the_newest_lines_with_exact_counts(client: TestClient, pipeline: str) -> None:
    response = client.get("/api/logs", params={"page": 1, "pageSize": 20, "timeRange": "30d"})
    # LogAnalysis.vue@747df741 performSearch: response.ok, data.success, data.data.logs
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True and body["dataSource"] == "database"
    newest = records(
        pipeline,
        "select p.* from ml.ml_predictions as p join ml.ml_status as s"
        " on p.model_version = s.active_model_version"
        " order by p.logged_at desc, p.log_entry_id desc limit 20",
    )
    logs = body["data"]["logs"]
    assert [int(line["id"]) for line in logs] == [row["log_entry_id"] for row in newest]
    for line, row in zip(logs, newest, strict=True):
        # the table: timestamp (toLocaleString), level badge, source, message.toLowerCase()
        assert datetime.fromisoformat(line["timestamp"]) == row["logged_at"]
        assert line["level"] == row["logged_level"] and line["level_source"] == "logged"
        assert isinstance(line["message"], str) and line["message"] == row["message"]
        assert line["source"] == row["source_type"]
        # the detector's decision (the old field was the source's label)
        assert line["isAnomaly"] == row["is_anomaly"]
        assert line["responseTime"] is None
    (total,) = records(
        pipeline,
        "select count(*) as n from ml.ml_predictions as p join ml.ml_status as s"
        " on p.model_version = s.active_model_version",
    )
    # @97a1c4fe read pagination.total_count (exact here: from the stats, no search)
    assert body["data"]["pagination"]["total_count"] == total["n"] == LOG_ROWS
    assert body["data"]["summary"]["total_logs"] == LOG_ROWS


@pytest.mark.parametrize(
    ("params", "where"),
    [
        ({"level": "ERROR"}, "p.logged_level = 'ERROR'"),
        # the page sends SPLUNK/SAP/APPLICATION in upper case; the ENUM is lower case
        ({"source": "APPLICATION"}, "p.source_type = 'application'"),
        ({"search": "timeout"}, "p.message ilike '%%timeout%%'"),
    ],
)
def test_logs_filters_as_the_page_sends_them(
    client: TestClient, pipeline: str, params: dict[str, str], where: str
) -> None:
    body = client.get("/api/logs", params={**params, "timeRange": "30d", "pageSize": 50}).json()
    expected = records(
        pipeline,
        "select p.log_entry_id from ml.ml_predictions as p join ml.ml_status as s"
        f" on p.model_version = s.active_model_version where {where}"
        " order by p.logged_at desc, p.log_entry_id desc limit 50",
    )
    assert expected, f"the generated logs have lines where {where}"
    assert [int(line["id"]) for line in body["data"]["logs"]] == [
        row["log_entry_id"] for row in expected
    ]


def test_analyze_button_looks_up_the_predictions(client: TestClient, pipeline: str) -> None:
    rows = records(
        pipeline,
        "select p.* from ml.ml_predictions as p join ml.ml_status as s"
        " on p.model_version = s.active_model_version order by p.log_entry_id limit 2",
    )
    payload = {
        "action": "analyze",
        "log_data": [
            {"id": str(rows[0]["log_entry_id"]), "message": "m", "level": "INFO"},
            {"id": str(rows[1]["log_entry_id"])},
            {"id": "999999999"},  # no prediction: left out, never a 0.5 default
        ],
    }
    response = client.post("/api/ml", json=payload)
    # LogAnalysis.vue analyzeLog: response.ok, results[0].classification, confidence,
    # is_anomaly, severity, anomaly_score (the mock "System Error 0.85" on failure)
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True and body["total_analyzed"] == 2
    for result, row in zip(body["results"], rows, strict=True):
        assert result["log_id"] == str(row["log_entry_id"])
        assert result["classification"] == row["predicted_level"]
        assert result["confidence"] == pytest.approx(row["level_confidence"])
        assert result["is_anomaly"] == row["is_anomaly"]
        assert result["severity"] == row["severity"]
        assert result["anomaly_score"] == pytest.approx(row["anomaly_score"])
    assert body["processing_time_ms"] > 0
    for bad_id in ("x'; drop", 5, "-1", ""):
        bad = client.post("/api/ml", json={"action": "analyze", "log_data": [{"id": bad_id}]})
        assert bad.status_code == 400 and bad.json()["success"] is False


def test_no_old_mock_number_comes_out_of_any_endpoint(client: TestClient) -> None:
    """Belt and braces over the field checks: the frontend's mock figures never appear."""
    for path in (
        "/api/ml_lightweight?action=status",
        "/api/ml_lightweight?action=stats",
        "/api/metrics",
        "/api/service_health",
        "/api/monitoring",
    ):
        body = client.get(path).json()
        found = {n for n in numbers(body) if n in MOCK_NUMBERS}
        assert not found, (path, found)


# --- plain SQL as users type it (docs/reference/plain-sql.md, the old guide) -------------------
# the old system's guide ML_ENABLEMENT_GUIDE_v2.md (Troubleshooting, "No logs to analyze"):
OLD_GUIDE_SQL = ["SELECT COUNT(*) FROM ml_predictions;"]


def docs_sql() -> list[str]:
    """Every statement of the ```sql blocks of the docs' plain SQL page."""
    text = (PROJECT_ROOT / "docs" / "reference" / "plain-sql.md").read_text()
    blocks = re.findall(r"```sql\n(.*?)```", text, re.DOTALL)
    return [
        statement.strip()
        for block in blocks
        for statement in block.split(";\n")
        if statement.strip().strip(";")
    ]


def test_docs_and_old_guide_sql_runs_as_written_for_the_reader(pipeline: str) -> None:
    statements = docs_sql()
    assert len(statements) >= 7
    assert all("ml." in statement for statement in statements), "the docs name the schema"
    # a plain connection of the read-only login: no options, its own search_path
    with psycopg.connect(as_reader(pipeline), autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement).fetchall()  # runs (3,000 logs may raise no alert)
        assert conn.execute(OLD_GUIDE_SQL[0]).fetchone() == (LOG_ROWS,)


# --- before the pipeline ran: honest empty shapes, never the pages' mocks -----------------------
def test_before_the_pipeline_every_endpoint_answers_200_with_empty_values(
    make_database: Callable[[str], str],
) -> None:
    empty = make_database("oldapp_empty")
    with TestClient(create_app(load_settings(api_database_url=empty))) as fresh:
        status = fresh.get("/api/ml_lightweight?action=status").json()
        assert status["success"] is True and status["ml_system"] == "not_initialized"
        stats = fresh.get("/api/ml_lightweight?action=stats")
        assert stats.status_code == 200 and stats.json()["success"] is True
        assert stats.json()["statistics"]["total_predictions"] == 0
        analyze = fresh.get("/api/ml_lightweight?action=analyze").json()
        assert analyze["success"] is True and analyze["results"] == []
        metrics = fresh.get("/api/metrics").json()
        assert metrics["success"] is True and metrics["metrics"]["system_health"] is None
        health = fresh.get("/api/service_health").json()
        assert health["success"] is True and health["services"]
        charts = fresh.get("/api/dashboard_analytics")
        assert charts.status_code == 200 and charts.json()["dataSource"] == "empty"
        monitoring = fresh.get("/api/monitoring").json()
        assert monitoring["success"] is True and monitoring["data"]["ml_alerts"] == []
        logs = fresh.get("/api/logs").json()
        assert logs["success"] is True and logs["data"]["logs"] == []
