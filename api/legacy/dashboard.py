"""The old frontend's Dashboard page: GET /api/metrics and /api/service_health, in the old
shapes, from the pre-aggregated tables (its charts and the Analytics page's numbers:
api/legacy/analytics.py).

Response times come from the source's optional response_time_ms (ml_response_times_hourly).
What this system cannot know (a machine's uptime, CPU, disk; response times of a source
without them) is served as null, "n/a" or an empty series, never as a made-up number; every
figure that is served says where it comes from (docs/reference/api.md, "The old frontend")."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.database import Database, DatabaseOffline, NotInitialized, Row
from api.errors import ERROR_RESPONSES
from api.legacy.queries import (
    HEALTH_INPUTS,
    LOGGED_LEVELS,
    RESPONSE_TIMES,
    WINDOW,
)
from api.responses import Stopwatch, json_response, now
from api.schemas import (
    Metrics,
    ServiceHealth,
    high_severity_predictions,
    percentage,
)

router = APIRouter(tags=["legacy"], responses=ERROR_RESPONSES)

WINDOW_24H = {"window": "24h"}
# The old health score (api/metrics.py of the old system), applied to the honest rates.
HEALTH_BASE, HEALTH_FLOOR, HEALTH_CEILING = 99.0, 85.0, 99.9
HEALTH_FORMULA = "clamp(99 - 3*fatal_rate - 0.5*error_rate - 0.3*high_anomaly_rate, 85, 99.9)"
TOTAL_LOGS_NOTE = (
    "logs scored by the active model version in the 24 hours that end with the newest hour"
    " scored (the API's role cannot read log_entries)"
)
RESPONSE_TIME_NOTE = (
    "average response_time_ms of the logs scored in the window (ml_response_times_hourly);"
    " null when the source has no response times there"
)


def _rate(part: int, whole: int) -> float | None:
    return percentage(part, whole) if whole else None


def average_response_time(hours: list[Row]) -> float | None:
    """The average over the hours' timed lines (sum of their sums / sum of their counts), ms."""
    timed = sum(row["timed_lines"] for row in hours)
    if not timed:
        return None
    return round(sum(row["response_time_ms_sum"] for row in hours) / timed, 1)


async def _window_24h(db: Database) -> tuple[list[Row], dict[str, int]]:
    """The 24h window's rows per severity, and its predictions per logged level."""
    rows = await db.fetch(WINDOW, WINDOW_24H)
    levels = await db.fetch(LOGGED_LEVELS, WINDOW_24H)
    return rows, {row["logged_level"]: row["predictions"] for row in levels}


@router.get("/api/metrics", response_model=Metrics)
async def metrics(request: Request) -> Response:
    """The Dashboard cards and the header's health: logs scored, high-severity anomalies,
    error and fatal rates of the logged levels and the old health score over 24 hours."""
    db: Database = request.app.state.db
    try:
        rows, by_level = await _window_24h(db)
        timed = await db.fetch(RESPONSE_TIMES, WINDOW_24H)
        message = None
    except NotInitialized as exc:
        rows, by_level, timed, message = [], {}, [], str(exc)
    total = sum(row["predictions"] for row in rows)
    high = high_severity_predictions(rows)
    known = sum(count for level, count in by_level.items() if level != "(unknown)")
    fatal_rate = _rate(by_level.get("FATAL", 0), known)
    error_rate = _rate(by_level.get("ERROR", 0), known)
    high_rate = percentage(high, total)
    impacts = {
        "fatal_impact": round(3 * (fatal_rate or 0.0), 2),
        "error_impact": round(0.5 * (error_rate or 0.0), 2),
        "anomaly_impact": round(0.3 * high_rate, 2),
    }
    health = None
    if total:
        score = HEALTH_BASE - sum(impacts.values())
        health = round(min(max(score, HEALTH_FLOOR), HEALTH_CEILING), 1)
    first = rows[0] if rows else {}
    body: dict[str, Any] = {
        "success": True,
        "metrics": {
            "total_logs": total,
            "avg_response_time_ms": average_response_time(timed),
            "fatal_rate": fatal_rate,
            "error_rate": error_rate,
            "high_anomaly_rate": high_rate,
            "high_anomaly_count": high,
            "system_health": health,
        },
        "calculation": {"base": HEALTH_BASE, **impacts, "formula": HEALTH_FORMULA},
        "notes": {
            "total_logs": TOTAL_LOGS_NOTE,
            "avg_response_time_ms": RESPONSE_TIME_NOTE,
            "fatal_rate": "percent of scored logs with a known logged level that were FATAL",
            "error_rate": "percent of scored logs with a known logged level that were ERROR",
            "high_anomaly_count": "predictions of severity high or critical (the anomalies)",
        },
        "period": "last_24_hours",
        "window_start": first.get("window_start"),
        "window_end": first.get("window_end"),
        "timestamp": now(),
    }
    if message:
        body["message"] = message
    return json_response(body)


# The tree's statuses, best to worst (the old TreeMap colours healthy, warning, degraded,
# unhealthy; anything else is grey).
_RANK = {"healthy": 0, "unknown": 1, "warning": 2, "degraded": 3, "unhealthy": 4}


def worst_status(statuses: list[str]) -> str:
    return max(statuses, key=_RANK.__getitem__)


def _node(
    name: str,
    status: str,
    importance: int,
    description: str,
    response_ms: float | None = None,
    children: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    # importance is a fixed layout weight of the old treemap, not a measurement; uptime is
    # not measured anywhere ("n/a", which the old page prints as is; null would print 99%).
    node: dict[str, Any] = {
        "name": name,
        "status": status,
        "importance": importance,
        "responseTime": response_ms,
        "uptime": "n/a",
        "description": description,
    }
    if children is not None:
        node["children"] = children
    return node


def pipeline_nodes(inputs: Row | None, why_unknown: str) -> list[dict[str, Any]]:
    """dbt scoring, level classifier, drift and alerts, each with how its status was read."""
    if inputs is None:
        return [
            _node(name, "unknown", weight, why_unknown)
            for name, weight in (
                ("dbt scoring run", 85),
                ("Level classifier", 80),
                ("Anomaly detector inputs (drift)", 75),
                ("Alerts", 70),
            )
        ]
    behind = inputs["scoring_behind"]
    unscored = f"{inputs['unscored_logs']:,}{'+' if inputs['unscored_logs_capped'] else ''}"
    scoring = (
        _node(
            "dbt scoring run",
            "warning",
            85,
            f"behind: {unscored} logs newer than the newest scored",
        )
        if behind
        else _node(
            "dbt scoring run", "healthy", 85, "up to date: no log newer than the newest scored"
        )
    )
    rate = inputs["agreement_rate"]
    if rate is None:
        level = _node("Level classifier", "unknown", 80, "no logged levels to compare with")
    else:
        status = "healthy" if rate >= 0.9 else "warning" if rate >= 0.7 else "degraded"
        day = inputs["health_day"].date().isoformat()
        text = f"agrees with the logged level on {100 * rate:.1f}% of the lines of {day}"
        level = _node("Level classifier", status, 80, f"{text} (>= 90% healthy, >= 70% warning)")
    psi = inputs["max_psi"]
    if psi is None:
        drift = _node("Anomaly detector inputs (drift)", "unknown", 75, "no drift computed yet")
    else:
        status = "healthy" if psi < 0.1 else "warning" if psi <= 0.25 else "degraded"
        text = f"largest PSI {psi:.3f} over {inputs['drift_features']} features"
        drift = _node("Anomaly detector inputs (drift)", status, 75, f"{text} (< 0.1 stable)")
    alerts, high = inputs["alerts_24h"], inputs["high_alerts_24h"]
    status = "healthy" if not alerts else "degraded" if high else "warning"
    text = f"{alerts} alerts ({high} high) about the last 24 hours scored"
    return [scoring, level, drift, _node("Alerts", status, 70, text)]


@router.get("/api/service_health", response_model=ServiceHealth)
async def service_health(request: Request) -> Response:
    """The Dashboard's service treemap: the database as the API sees it, and the pipeline's
    parts, each with a status read from the tables (never a constant)."""
    db: Database = request.app.state.db
    watch = Stopwatch()
    inputs: Row | None = None
    try:
        found = await db.fetch(HEALTH_INPUTS)
        inputs = found[0] if found else None
        database = _node(
            "PostgreSQL (API connection)", "healthy", 90,
            "the API's read-only query answered", watch.ms(),
        )  # fmt: skip
        why = "ml tables are empty: run the pipeline"
    except DatabaseOffline as exc:
        database = _node("PostgreSQL (API connection)", "unhealthy", 90, str(exc))
        why = "unknown while the database is unreachable"
    except NotInitialized as exc:
        database = _node("PostgreSQL (API connection)", "healthy", 90, "reachable", watch.ms())
        why = str(exc)
    pipeline = pipeline_nodes(inputs, why)
    services = [
        _node("Database Services", database["status"], 100, "PostgreSQL",
              database["responseTime"], [database]),
        _node("ML Pipeline", worst_status([n["status"] for n in pipeline]), 95,
              "dbt scoring and the models", None, pipeline),
    ]  # fmt: skip
    overall = worst_status([database["status"], *(n["status"] for n in pipeline)])
    body = {
        "success": True,
        "services": services,
        "overall_status": "critical" if overall == "unhealthy" else overall,
        "timestamp": now(),
    }
    return json_response(body)
