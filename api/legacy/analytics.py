"""GET /api/dashboard_analytics: the old frontend's Dashboard charts and its Analytics page's
`systemMetrics` (stores/analytics.js), in the old shapes, from the pre-aggregated tables.

The old page reads systemMetrics as: logsProcessed ("Total Logs Processed"), activeAlerts
("Anomalies Detected", "active alerts"), responseTime (ms; shown in seconds), systemHealth
(compared with 'Healthy') and uptime, a percentage string (parseFloat) shown as the
"System Health" card. Each is filled with what this system really is, and `systemMetricsNotes`
says where each number comes from (docs/reference/api.md, "The old frontend")."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.database import Database, NotInitialized, Row
from api.errors import ERROR_RESPONSES
from api.legacy.dashboard import (
    RESPONSE_TIME_NOTE,
    WINDOW_24H,
    average_response_time,
    pipeline_nodes,
    worst_status,
)
from api.legacy.queries import HEALTH_INPUTS, HOURLY_VOLUME, LOGGED_LEVELS, RESPONSE_TIMES
from api.responses import json_response, now
from api.schemas import DashboardAnalytics

router = APIRouter(tags=["legacy"], responses=ERROR_RESPONSES)

# Chart colours and level order as the old page's legend expects them.
LEVEL_ORDER = ("INFO", "WARN", "ERROR", "DEBUG", "FATAL")
LEVEL_COLOURS = [
    "rgb(34, 197, 94)", "rgb(245, 158, 11)", "rgb(239, 68, 68)", "rgb(107, 114, 128)",
    "rgb(147, 51, 234)",
]  # fmt: skip
# The old API's words for the overall state (the page tests systemHealth === 'Healthy').
HEALTH_WORDS = {
    "healthy": "Healthy",
    "unknown": "Unknown",
    "warning": "Warning",
    "degraded": "Degraded",
    "unhealthy": "Critical",
}
SYSTEM_METRICS_NOTES = {
    "logsProcessed": "logs the active model version has scored, in total (ml_status)",
    "activeAlerts": "alerts (ml_alerts) about the 24 hours that end with the newest hour scored",
    "responseTime": RESPONSE_TIME_NOTE,
    "systemHealth": (
        "the worst state of the pipeline's parts in /api/service_health (scoring up to date,"
        " level agreement, drift, alerts): Healthy, Warning, Degraded, Critical or Unknown"
    ),
    "uptime": (
        "no uptime is recorded anywhere (dbt runs on a schedule, nothing watches it); served"
        " instead: the share of the 24 hours' logs that are scored, scored / (scored + logs"
        " waiting for the next run), the availability of this system's results. An upper"
        " bound when more than 10,000 logs wait (/api/service_health says so)"
    ),
}


def _line(label: str, data: list[Any], colour: str) -> dict[str, Any]:
    return {
        "label": label,
        "data": data,
        "borderColor": f"rgb({colour})",
        "backgroundColor": f"rgba({colour}, 0.1)",
        "tension": 0.4,
        "fill": True,
    }


def system_metrics(inputs: Row | None, hours: list[Row], timed: list[Row]) -> dict[str, Any]:
    """The five numbers of the Analytics page (see the module's docstring and
    SYSTEM_METRICS_NOTES); `inputs` is the HEALTH_INPUTS row, None before the pipeline ran."""
    why = "the pipeline has not run yet"
    overall = worst_status([node["status"] for node in pipeline_nodes(inputs, why)])
    scored = sum(row["predictions"] for row in hours)
    waiting = inputs["unscored_logs"] if inputs else 0
    arrived = scored + waiting
    return {
        "logsProcessed": (inputs["total_predictions"] or 0) if inputs else 0,
        "activeAlerts": inputs["alerts_24h"] if inputs else 0,
        "responseTime": average_response_time(timed),
        "systemHealth": HEALTH_WORDS[overall],
        "uptime": f"{100 * scored / arrived if arrived else 0.0:.1f}%",
    }


@router.get("/api/dashboard_analytics", response_model=DashboardAnalytics)
async def dashboard_analytics(request: Request) -> Response:
    """The Dashboard charts over the 24 hours to the newest hour scored: logs scored per hour,
    logs per logged level, average and 95th-percentile response time per hour (the hours that
    have response times; no series when the source has none); error types are not in the
    tables (an empty chart); and the Analytics page's systemMetrics. The `_t` cache-buster and
    `time_range` of the old page are ignored."""
    db: Database = request.app.state.db
    try:
        hours = await db.fetch(HOURLY_VOLUME, WINDOW_24H)
        levels = await db.fetch(LOGGED_LEVELS, WINDOW_24H)
        timed = await db.fetch(RESPONSE_TIMES, WINDOW_24H)
        (inputs,) = await db.fetch(HEALTH_INPUTS)
        source = "database"
    except NotInitialized:
        hours, levels, timed, inputs, source = [], [], [], None, "empty"
    by_level = {row["logged_level"]: row["predictions"] for row in levels}
    # No series at all without response times: the old chart draws an empty one as NaN.
    response_series = [
        _line("Average Response Time (ms)", [_ms(row["avg_response_time_ms"]) for row in timed],
              "16, 185, 129"),
        _line("p95 Response Time (ms)", [_ms(row["p95_response_time_ms"]) for row in timed],
              "245, 158, 11"),
    ] if timed else []  # fmt: skip
    body = {
        "logVolume": {
            "labels": [row["hour"].strftime("%H:00") for row in hours],
            "datasets": [
                _line("Logs per hour", [row["predictions"] for row in hours], "59, 130, 246")
            ],
            "hours": [row["hour"] for row in hours],
        },
        "logDistribution": {
            "labels": list(LEVEL_ORDER),
            "datasets": [
                {
                    "data": [by_level.get(level, 0) for level in LEVEL_ORDER],
                    "backgroundColor": LEVEL_COLOURS,
                    "borderWidth": 2,
                    "borderColor": "#ffffff",
                }
            ],
            "unknown_level": by_level.get("(unknown)", 0),
        },
        "responseTime": {
            "labels": [row["hour"].strftime("%H:00") for row in timed],
            "datasets": response_series,
            "hours": [row["hour"] for row in timed],
            "timed_lines": [row["timed_lines"] for row in timed],
            "note": "per hour with response times: average and 95th percentile of"
            " response_time_ms (ml_response_times_hourly)",
        },
        "errorTypes": {
            "labels": [],
            "datasets": [{"label": "Error Count", "data": []}],
            "note": "error types are not in the ML tables",
        },
        "systemMetrics": system_metrics(inputs, hours, timed),
        "systemMetricsNotes": SYSTEM_METRICS_NOTES,
        "timestamp": now(),
        "dataSource": source,
        "period": "last_24_hours",
    }
    return json_response(body)


def _ms(value: float) -> float:
    return round(value, 1)
