"""GET /api/ml_lightweight?action=status|analyze|stats: the old dashboard's endpoint, with the
old JSON shapes (docs/reference/api.md), answered from the dbt tables.

The old frontend reads a mix of the old versions' fields (the status fields of the guide, the
analyze rows with `log_id`, `message` and `actual_level`, the stats with a percent
`anomaly_rate`); all are served, each filled with what this system really is or measured.
Before the pipeline ran, every action answers 200 with an honest empty shape (the old
frontend shows its mock numbers on `success: false`)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from api.database import Database, DatabaseOffline, NotInitialized
from api.errors import ERROR_RESPONSES, ErrorBody
from api.legacy.queries import ANALYZE, WINDOW
from api.queries import STATUS
from api.responses import Stopwatch, json_response, now
from api.schemas import (
    LegacyAnalyze,
    LegacyOffline,
    LegacyStats,
    LegacyStatus,
    high_severity_predictions,
    percentage,
)
from dbt_project.vocabulary import VOCABULARY

router = APIRouter(tags=["legacy"])

_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    200: {"model": LegacyStatus | LegacyAnalyze | LegacyStats, "description": "per action"},
    503: {
        "model": LegacyOffline | ErrorBody,
        "description": "database unreachable (status: ml_system offline)",
    },
}

# What this system is, for the fields the old guide documents (docs/reference/api.md).
ARCHITECTURE = (
    "in-database batch scoring: scikit-learn models compiled to SQL, run by dbt incremental"
    " models inside PostgreSQL"
)
DEPLOYMENT_SIZE = (
    "no ML libraries at scoring or serving time: the models are SQL, the API only runs SELECTs"
)
ML_COMPUTE_TIME_NOTE = (
    "not recorded: dbt keeps each model's run time in target/run_results.json on the machine"
    " that ran it, not in the database this API reads"
)


@router.get("/api/ml_lightweight", response_model=None, responses=_RESPONSES)
async def ml_lightweight(
    request: Request,
    action: Literal["status", "analyze", "stats"] = Query(
        "status",
        description="status: is the system up; analyze: latest 100 predictions;"
        " stats: last 24 hours by severity",
    ),
) -> Response:
    db: Database = request.app.state.db
    if action == "analyze":
        return await _analyze(db)
    if action == "stats":
        return await _stats(db)
    return await _status(db)


def prediction_source(version: str | None) -> str:
    return f"pre-computed in PostgreSQL by dbt (ml_predictions, model {version})"


def freshness(row: dict[str, Any]) -> dict[str, Any]:
    """When the newest log arrived and whether scoring is behind (ml_log_freshness): logs
    newer than the newest one scored, by id, never a guess from the wall clock."""
    return {
        "newest_log_at": row["newest_log_at"],
        "newest_log_arrived_at": row["newest_log_arrived_at"],
        "newest_scored_log_at": row["newest_scored_log_at"],
        "unscored_logs": row["unscored_logs"],
        "unscored_logs_capped": row["unscored_logs_capped"],
        "scoring_behind": row["scoring_behind"],
    }


async def _status(db: Database) -> Response:
    watch = Stopwatch()
    try:
        rows = await db.fetch(STATUS)
    except DatabaseOffline as exc:
        body = {"success": False, "ml_system": "offline", "error": str(exc), "timestamp": now()}
        return json_response(body, 503)
    except NotInitialized as exc:
        return json_response(_not_initialized(str(exc)))
    query_ms = watch.ms()
    if not rows:
        return json_response(_not_initialized("ml_status is empty: run the pipeline first"))
    row = rows[0]
    return json_response(
        {
            "success": True,
            "ml_system": "active",
            "architecture": ARCHITECTURE,
            "deployment_size": DEPLOYMENT_SIZE,
            "prediction_source": prediction_source(row["active_model_version"]),
            "latest_prediction": row["latest_prediction_at"],
            "total_predictions": row["total_predictions"] or 0,
            "logs_available": bool(row["logs_available"]),
            "predictions_available": bool(row["predictions_available"]),
            "query_time": f"{query_ms}ms (database)",
            "query_time_ms": query_ms,
            "ml_compute_time": None,
            "ml_compute_time_note": ML_COMPUTE_TIME_NOTE,
            "active_model_version": row["active_model_version"],
            "last_run_at": row["last_run_at"],
            "next_run_due_at": row["next_run_due_at"],
            **freshness(row),
            "timestamp": now(),
        }
    )


def _not_initialized(message: str) -> dict[str, Any]:
    # Every key of the active shape is there too, so old clients that read them keep working.
    return {
        "success": True,
        "ml_system": "not_initialized",
        "message": message,
        "architecture": ARCHITECTURE,
        "deployment_size": DEPLOYMENT_SIZE,
        "prediction_source": prediction_source(None),
        "latest_prediction": None,
        "total_predictions": 0,
        "logs_available": False,
        "predictions_available": False,
        "query_time": None,
        "query_time_ms": None,
        "ml_compute_time": None,
        "ml_compute_time_note": ML_COMPUTE_TIME_NOTE,
        "timestamp": now(),
    }


async def _analyze(db: Database) -> Response:
    watch = Stopwatch()
    try:
        total, results = await db.fetch_json(ANALYZE)
    except NotInitialized as exc:
        empty = {"success": True, "results": [], "total": 0, "source": "empty"}
        return json_response({**empty, "message": str(exc), "timestamp": now()})
    query_ms = watch.ms()
    body = {
        "success": True,
        "total": int(total),
        "source": "database",
        "query_time": f"{query_ms}ms (database)",
        "query_time_ms": query_ms,
        "timestamp": now(),
    }
    return json_response(body, raw={"results": results})


def severity_distribution(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """As the old API served it: by count, largest first, no empty severities (the old page
    draws the bars in the order received); ties in severity order, worst first."""
    counted = [row for row in rows if row["predictions"]]
    worst_first = VOCABULARY.severities
    counted.sort(key=lambda row: (-row["predictions"], worst_first.index(row["severity"])))
    return [{"severity": row["severity"], "count": row["predictions"]} for row in counted]


async def _stats(db: Database) -> Response:
    try:
        rows = await db.fetch(WINDOW, {"window": "24h"})
    except NotInitialized as exc:
        return json_response(
            {
                "success": True,
                "statistics": {
                    "severity_distribution": [],
                    "total_predictions": 0,
                    "anomaly_count": 0,
                    "high_severity_count": 0,
                    "anomaly_rate": 0.0,
                },
                "period": "last_24_hours",
                "message": str(exc),
                "source": "empty",
                "timestamp": now(),
            }
        )
    total = sum(row["predictions"] for row in rows)
    anomalies = sum(row["anomalies"] for row in rows)
    statistics = {
        "severity_distribution": severity_distribution(rows),
        "total_predictions": total,
        "anomaly_count": anomalies,
        "high_severity_count": high_severity_predictions(rows),
        "anomaly_rate": percentage(anomalies, total),
    }
    first = rows[0] if rows else {}
    body = {
        "success": True,
        "statistics": statistics,
        "period": "last_24_hours",
        "window_start": first.get("window_start"),
        "window_end": first.get("window_end"),
        "timestamp": now(),
    }
    return json_response(body)
