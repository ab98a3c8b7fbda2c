"""GET /api/ml_lightweight?action=status|analyze|stats: the old dashboard's endpoint, with the
old JSON shapes (README "API and dashboard"), now answered from the dbt tables."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from api import queries
from api.database import Database, DatabaseOffline, NotInitialized
from api.errors import ERROR_RESPONSES, ErrorBody
from api.schemas import LegacyAnalyze, LegacyOffline, LegacyStats, LegacyStatus, percentage

router = APIRouter(tags=["legacy"])

_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    200: {"model": LegacyStatus | LegacyAnalyze | LegacyStats, "description": "per action"},
    503: {
        "model": LegacyOffline | ErrorBody,
        "description": "status: database unreachable; analyze, stats: unreachable or not built",
    },
}


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _iso(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _json(body: dict[str, Any], status_code: int = 200) -> Response:
    # json.dumps with a datetime hook: fastapi's jsonable_encoder walks every value of the 100
    # analyze rows in Python and cost more than the query itself.
    content = json.dumps(body, default=_iso, separators=(",", ":"), allow_nan=False)
    return Response(content, status_code=status_code, media_type="application/json")


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


async def _status(db: Database) -> Response:
    try:
        rows = await db.fetch(queries.STATUS)
    except DatabaseOffline as exc:
        body = {"success": False, "ml_system": "offline", "error": str(exc), "timestamp": _now()}
        return _json(body, 503)
    except NotInitialized as exc:
        return _json(_not_initialized(str(exc)))
    if not rows:
        return _json(_not_initialized("ml_status is empty: run the pipeline (`dbt build`) first"))
    row = rows[0]
    return _json(
        {
            "success": True,
            "ml_system": "active",
            "latest_prediction": row["latest_prediction_at"],
            "total_predictions": row["total_predictions"] or 0,
            "logs_available": bool(row["logs_available"]),
            "predictions_available": bool(row["predictions_available"]),
            "timestamp": _now(),
        }
    )


def _not_initialized(message: str) -> dict[str, Any]:
    # Every key of the active shape is there too, so old clients that read them keep working.
    return {
        "success": True,
        "ml_system": "not_initialized",
        "message": message,
        "latest_prediction": None,
        "total_predictions": 0,
        "logs_available": False,
        "predictions_available": False,
        "timestamp": _now(),
    }


async def _analyze(db: Database) -> Response:
    rows = await db.fetch(queries.LATEST)
    body = {
        "success": True,
        "results": rows,
        "total": len(rows),
        "source": "database",
        "timestamp": _now(),
    }
    return _json(body)


async def _stats(db: Database) -> Response:
    rows = await db.fetch(queries.WINDOW_BY_SEVERITY, {"window": "24h", "model_version": None})
    total = sum(row["predictions"] for row in rows)
    anomalies = sum(row["anomalies"] for row in rows)
    statistics = {
        "severity_distribution": [
            {"severity": row["severity"], "count": row["predictions"]} for row in rows
        ],
        "total_predictions": total,
        "anomaly_count": anomalies,
        "high_severity_count": sum(r["predictions"] for r in rows if r["severity"] == "high"),
        "anomaly_rate": percentage(anomalies, total),
    }
    body = {
        "success": True,
        "statistics": statistics,
        "period": "last_24_hours",
        "timestamp": _now(),
    }
    return _json(body)
