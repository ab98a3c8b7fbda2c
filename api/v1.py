"""/api/v1: status, predictions (filters + keyset pagination), window and hourly stats, level
and service breakdowns (models and their comparison: api/model_versions.py). Every parameter is
validated by its declared type before any SQL runs."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from psycopg.sql import Composed
from pydantic import BeforeValidator

from api import queries
from api.cursors import decode_cursor, encode_cursor
from api.database import Database, NotInitialized
from api.errors import ERROR_RESPONSES
from api.responses import json_response
from api.schemas import (
    Hourly,
    Level,
    Levels,
    PredictionPage,
    Services,
    Severity,
    SeverityStats,
    Status,
    Window,
    WindowStats,
    high_severity_predictions,
    percentage,
)
from dbt_project.vocabulary import VOCABULARY

router = APIRouter(prefix="/api/v1", tags=["v1"], responses=ERROR_RESPONSES)

# Printable text only: NUL and control characters can never match a stored value, and NUL
# is not even valid in a PostgreSQL text parameter.
PRINTABLE = r"^[^\x00-\x1f\x7f]*$"
VersionParam = Annotated[
    str | None,
    Query(max_length=100, pattern=PRINTABLE, description="default: the active version"),
]
WindowParam = Annotated[Window, Query(description="window ending at the newest hour scored")]


def _iso_8601(value: object) -> object:
    # pydantic's lax mode also reads numbers as Unix times; the document promises ISO 8601.
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError("expected an ISO 8601 date-time, e.g. 2026-11-26T09:00:00Z")


# A time without a zone is taken as UTC (the sessions run in UTC).
Timestamp = Annotated[datetime, BeforeValidator(_iso_8601)]


def db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


@router.get("/status", response_model=Status)
async def status(request: Request) -> Status:
    """Pipeline status from the one-row ml_status table."""
    try:
        rows = await db(request).fetch(queries.STATUS)
    except NotInitialized as exc:
        return Status(state="not_initialized", message=str(exc))
    if not rows:
        return Status(state="not_initialized", message="ml_status is empty")
    row = rows[0]
    total = row["total_predictions"] or 0
    return Status(
        state="ready",
        **row,
        anomaly_rate=percentage(row["anomaly_count"] or 0, total),
    )


async def prediction_page(database: Database, query: Composed, filters: dict[str, Any]) -> Response:
    """The page that `query` (queries.page_of_predictions) finds, with the next page's cursor
    when there is one."""
    items, last_logged_at, last_id, more = await database.fetch_json(query, filters)
    next_cursor = None
    if more == "True":
        next_cursor = encode_cursor(
            datetime.fromisoformat(json.loads(last_logged_at)), int(last_id)
        )
    return json_response({"next_cursor": next_cursor}, raw={"items": items})


@router.get("/predictions", response_model=PredictionPage)
async def predictions(
    request: Request,
    model_version: VersionParam = None,
    since: Annotated[Timestamp | None, Query(description="logged_at >= since")] = None,
    until: Annotated[Timestamp | None, Query(description="logged_at < until")] = None,
    severity: Annotated[list[Severity] | None, Query()] = None,
    is_anomaly: bool | None = None,
    level_disagrees: bool | None = None,
    logged_level: Annotated[list[Level] | None, Query()] = None,
    predicted_level: Annotated[list[Level] | None, Query()] = None,
    service: Annotated[str | None, Query(max_length=200, pattern=PRINTABLE)] = None,
    cursor: Annotated[
        str | None, Query(max_length=200, description="next_cursor of the previous page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Response:
    """Predictions newest first (by log timestamp), one page at a time."""
    filters: dict[str, Any] = {
        "model_version": model_version,
        "since": since,
        "until": until,
        "severity": severity,
        "is_anomaly": is_anomaly,
        "level_disagrees": level_disagrees,
        "logged_level": logged_level,
        "predicted_level": predicted_level,
        "service": service,
        "cursor": cursor,
        "limit": limit + 1,  # one more than asked tells whether a next page exists
    }
    if cursor is not None:
        filters["cursor_logged_at"], filters["cursor_log_entry_id"] = decode_cursor(cursor, int)
    query = queries.predictions_page(filters)
    return await prediction_page(db(request), query, filters)


@router.get("/stats", response_model=WindowStats)
async def stats(
    request: Request, window: WindowParam = "24h", model_version: VersionParam = None
) -> WindowStats:
    """Totals and the severity breakdown of a window, from ml_stats_windows."""
    params = {
        "window": window,
        "model_version": model_version,
        "severities": list(VOCABULARY.severities),
    }
    rows = await db(request).fetch(queries.WINDOW_BY_SEVERITY, params)
    total = sum(row["predictions"] for row in rows)
    anomalies = sum(row["anomalies"] for row in rows)
    first = rows[0] if rows else {}
    return WindowStats(
        window=window,
        window_start=first.get("window_start"),
        window_end=first.get("window_end"),
        model_version=first.get("model_version"),
        predictions=total,
        anomalies=anomalies,
        anomaly_rate=percentage(anomalies, total),
        level_disagreements=sum(row["level_disagreements"] for row in rows),
        high_severity=high_severity_predictions(rows),
        by_severity=[SeverityStats.model_validate(row) for row in rows],
    )


@router.get("/stats/hourly", response_model=Hourly)
async def hourly(
    request: Request,
    hours: Annotated[int, Query(ge=1, le=24 * 90, description="hours back from the newest")] = 48,
    model_version: VersionParam = None,
) -> Hourly:
    """Predictions, anomalies and disagreements per hour, from ml_stats_hourly."""
    params = {"hours": hours, "model_version": model_version}
    return Hourly.model_validate({"hours": await db(request).fetch(queries.HOURLY, params)})


@router.get("/stats/levels", response_model=Levels)
async def levels(
    request: Request, window: WindowParam = "24h", model_version: VersionParam = None
) -> Levels:
    """Logged level against predicted level over a window (the diagonal agrees)."""
    params = {"window": window, "model_version": model_version}
    rows = await db(request).fetch(queries.LEVELS, params)
    return Levels.model_validate({"window": window, "pairs": rows})


@router.get("/stats/services", response_model=Services)
async def services(
    request: Request,
    window: WindowParam = "24h",
    model_version: VersionParam = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Services:
    """The services with the most predictions over a window."""
    params = {"window": window, "model_version": model_version, "limit": limit}
    rows = await db(request).fetch(queries.SERVICES, params)
    return Services.model_validate({"window": window, "services": rows})
