"""The old frontend's Monitoring and Log Analysis pages: GET /api/monitoring, GET /api/logs and
POST /api/ml, in the old shapes. Lists of lines come from ml_predictions (the active
version's rows, newest first through the (model_version, logged_at) index, a page at a time);
counts from the hourly stats. POST /api/ml only reads: it looks up the predictions of the
logs it is given (the old page sends them in a body)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from api.database import Database, NotInitialized
from api.errors import ERROR_RESPONSES
from api.legacy.queries import (
    DATABASE_SIZE,
    LOG_LEVEL_COUNTS,
    LOGGED_LEVELS,
    MONITORING_LINES,
    MONITORING_TOTALS,
    PREDICTIONS_OF,
    logs_page,
)
from api.responses import Stopwatch, json_response, json_text, now
from api.schemas import Level, LogsPage, MlAnalyzed, Monitoring
from api.v1 import PRINTABLE

router = APIRouter(tags=["legacy"], responses=ERROR_RESPONSES)

LEVEL_NAMES = ("DEBUG", "INFO", "WARN", "ERROR", "FATAL")


@router.get("/api/monitoring", response_model=Monitoring)
async def monitoring(request: Request) -> Response:
    """The Monitoring page: database size, logs scored per day and hour, level distribution,
    the newest high-severity predictions and the newest ERROR/FATAL lines of the 24 hours to
    the newest hour scored. Response-time percentiles are not in the tables: 0 with
    `available: false` (the old page needs numbers there)."""
    db: Database = request.app.state.db
    try:
        (totals,) = await db.fetch(MONITORING_TOTALS)
        levels = await db.fetch(LOGGED_LEVELS, {"window": "24h"})
        alerts, incidents = await db.fetch_json(MONITORING_LINES, {"window": "24h"})
    except NotInitialized:
        (totals,), levels, alerts, incidents = await db.fetch(DATABASE_SIZE), [], "[]", "[]"
    per_hour, per_day = int(totals["per_hour"]), int(totals["per_day"])
    data = {
        "percentiles": {
            "p50": 0,
            "p95": 0,
            "p99": 0,
            "min": 0,
            "max": 0,
            "avg": 0,
            "total_requests": 0,
            "available": False,
            "note": "response times are not in the ML tables",
        },  # fmt: skip
        "resources": {
            "database": {
                "size_mb": round(totals["size_bytes"] / 2**20, 2),
                "size_formatted": totals["size_formatted"],
                "max_size_mb": None,
                "max_size_formatted": "unknown",
                "usage_percent": None,
                "total_logs": totals["total_predictions"] or 0,
                "growth_rate": f"{per_day:,} logs/day",
                "logs_per_day": per_day,
            },
            "throughput": {
                "logs_per_day": per_day,
                "logs_per_hour": per_hour,
                "logs_per_minute": round(per_hour / 60, 2),
                "logs_per_second": round(per_hour / 3600, 4),
            },
            "level_distribution": {
                row["logged_level"]: row["predictions"]
                for row in levels
                if row["logged_level"] != "(unknown)"
            },
            "ml_predictions": {"count_24h": per_day, "status": "active" if per_day else "inactive"},
        },
    }
    inner = json_text(data, raw={"ml_alerts": alerts, "incidents": incidents})
    return json_response({"success": True, "timestamp": now()}, raw={"data": inner})


@router.get("/api/logs", response_model=LogsPage)
async def logs(
    request: Request,
    # at most 100 pages of at most 100 lines: OFFSET walks the index, so it stays short
    page: Annotated[int, Query(ge=1, le=100)] = 1,
    page_size: Annotated[int, Query(alias="pageSize", ge=1, le=100)] = 20,
    time_range: Annotated[
        Literal["1h", "6h", "24h", "7d", "30d", "custom"],
        Query(
            alias="timeRange",
            description="before the end of the newest hour scored;"
            " custom (no bounds sent by the old page) means 24h",
        ),
    ] = "24h",  # fmt: skip
    search: Annotated[
        str | None, Query(max_length=200, pattern=PRINTABLE, description="substring of the message")
    ] = None,
    level: Annotated[
        Level | None, Query(description="the logged level (the predicted one when unknown)")
    ] = None,
    source: Annotated[
        str | None,
        Query(max_length=50, pattern=PRINTABLE, description="source_type, any letter case"),
    ] = None,
) -> Response:
    """The Log Analysis table: scored log lines newest first, a page at a time. `isAnomaly` is
    the detector's decision (the old field was the source's label). `pagination.total_count`
    is exact (from the hourly stats) unless `search` or `source` is set: then null, since
    counting would mean reading every matching line."""
    db: Database = request.app.state.db
    hours = {"1h": 1, "6h": 6, "24h": 24, "7d": 168, "30d": 720}.get(time_range, 24)
    escaped = (
        search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") if search else None
    )
    params: dict[str, Any] = {
        "hours": hours,
        "level": level,
        "source": source,
        "search": f"%{escaped}%" if escaped else None,
        "limit": page_size,
        "offset": (page - 1) * page_size,
    }
    try:
        (lines,) = await db.fetch_json(logs_page(params), params)
        counts = await db.fetch(LOG_LEVEL_COUNTS, {"hours": hours})
        source_name = "database"
    except NotInitialized:
        lines, counts, source_name = "[]", [], "empty"
    by_level = dict.fromkeys(LEVEL_NAMES, 0)
    matching = 0
    for row in counts:
        shown = (
            row["predicted_level"] if row["logged_level"] == "(unknown)" else row["logged_level"]
        )
        by_level[shown] = by_level.get(shown, 0) + row["predictions"]
        matching += row["predictions"] if level in (None, shown) else 0
    exact = not search and not source
    total = matching if exact else None
    body = {
        "success": True,
        "dataSource": source_name,
        "timestamp": now(),
    }
    data = {
        "summary": {
            "total_logs": sum(by_level.values()),
            "error_count": by_level["ERROR"],
            "warning_count": by_level["WARN"],
            "info_count": by_level["INFO"],
            "debug_count": by_level["DEBUG"],
            "fatal_count": by_level["FATAL"],
        },
        "pagination": {
            "page": page,
            "page_size": page_size,
            "total_count": total,
            "total_pages": -(-total // page_size) if total is not None else None,
        },
    }
    return json_response(body, raw={"data": json_text(data, raw={"logs": lines})})


class LogToAnalyze(BaseModel):
    # a string, as the page sends the ids it got from /api/logs (the other keys are ignored)
    id: str = Field(pattern=r"^[0-9]{1,18}$", description="the log's id (log_entry_id)")


class AnalyzeRequest(BaseModel):
    action: Literal["analyze"]
    log_data: Annotated[list[LogToAnalyze], Field(min_length=1, max_length=100)]


@router.post("/api/ml", response_model=MlAnalyzed)
async def analyze_logs(request: Request, payload: AnalyzeRequest) -> Response:
    """The Log Analysis "Analyze" button: the active version's predictions of the given logs
    (a lookup: nothing is computed or written). Logs without a prediction are left out, never
    given a default. The one non-GET route, because the old page sends a body; it reads
    only."""
    ids = [int(item.id) for item in payload.log_data]
    db: Database = request.app.state.db
    watch = Stopwatch()
    count, results = await db.fetch_json(PREDICTIONS_OF, {"ids": ids})
    body = {
        "success": True,
        "total_analyzed": int(count),
        "processing_time_ms": watch.ms(),
        "timestamp": now(),
    }
    return json_response(body, raw={"results": results})
