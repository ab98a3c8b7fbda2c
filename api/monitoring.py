"""/api/v1/drift, /api/v1/models/health, /api/v1/alerts (and its kinds) and
/api/v1/templates/unlabelled: the monitoring marts (ml_drift, ml_model_health, ml_alerts with
the notifier's ml_alert_deliveries, the detector's ml_detector_template_history beside
ml_template_labels) for people, not only for SQL. Every parameter is validated by its declared
type before any SQL runs."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from api import queries
from api.errors import ERROR_RESPONSES
from api.responses import json_response
from api.schemas import (
    AlertKinds,
    Alerts,
    Drift,
    DriftFeature,
    ModelHealth,
    UnlabelledTemplates,
)
from api.v1 import PRINTABLE, VersionParam, db
from dbt_project.vocabulary import VOCABULARY, AlertKindName, AlertSeverity

router = APIRouter(prefix="/api/v1", tags=["v1"], responses=ERROR_RESPONSES)

# PSI below this is "stable" (the usual reading; ml_drift's column description).
STABLE_BELOW = 0.1


DriftStatus = Literal["stable", "moderate", "shift", "unknown"]


def _drift_status(psi: float | None, threshold: float | None) -> DriftStatus:
    if psi is None:
        return "unknown"
    if psi < STABLE_BELOW:
        return "stable"
    return "shift" if threshold is not None and psi > threshold else "moderate"


@router.get("/drift", response_model=Drift)
async def drift(request: Request, model_version: VersionParam = None) -> Drift:
    """Population stability index of each model input (and of the predicted level) over the
    newest 24 hours scored against the version's training window, largest first, with the
    threshold above which ml_alerts raises a drift alert."""
    rows = await db(request).fetch(queries.DRIFT, {"model_version": model_version})
    first = rows[0] if rows else {}
    threshold = first.get("alert_threshold")
    return Drift(
        model_version=first.get("model_version"),
        threshold=threshold,
        stable_below=STABLE_BELOW,
        training_start=first.get("training_start"),
        training_end=first.get("training_end"),
        current_start=first.get("current_start"),
        current_end=first.get("current_end"),
        features=[
            DriftFeature(
                feature=row["feature"],
                psi=row["psi"],
                status=_drift_status(row["psi"], threshold),
                above_threshold=row["psi"] is not None
                and threshold is not None
                and row["psi"] > threshold,
                baseline_rows=row["baseline_rows"],
                current_rows=row["current_rows"],
            )
            for row in rows
        ],
    )


@router.get("/models/health", response_model=ModelHealth)
async def model_health(
    request: Request,
    days: Annotated[int, Query(ge=1, le=366, description="days back from the newest")] = 30,
    service: Annotated[str | None, Query(max_length=200, pattern=PRINTABLE)] = None,
    model_version: VersionParam = None,
) -> ModelHealth:
    """The level classifier against the logged level, per day (UTC): agreement, lines read
    as more or less severe than logged, and the confusion counts; all services, or one."""
    params = {"days": days, "service": service, "model_version": model_version}
    rows = await db(request).fetch(queries.MODEL_HEALTH, params)
    version = rows[0]["model_version"] if rows else model_version
    return ModelHealth.model_validate({"model_version": version, "service": service, "days": rows})


@router.get("/alerts", response_model=Alerts)
async def alerts(
    request: Request,
    kind: Annotated[list[AlertKindName] | None, Query()] = None,
    severity: Annotated[list[AlertSeverity] | None, Query()] = None,
    state: Annotated[
        Literal["delivered", "pending"] | None,
        Query(description="delivered: the webhook accepted it; pending: not (yet)"),
    ] = None,
    service: Annotated[str | None, Query(max_length=200, pattern=PRINTABLE)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Response:
    """Alerts newest first, each with its delivery by the notifier (`make notify`)."""
    database = db(request)
    readable = bool((await database.fetch(queries.DELIVERIES_READABLE))[0]["readable"])
    has_run = readable and bool((await database.fetch(queries.DELIVERIES_RECORDED))[0]["recorded"])
    filters: dict[str, Any] = {
        "kind": kind,
        "severity": severity,
        "state": state,
        "service": service,
        "limit": limit,
    }
    total, delivered, page = await database.fetch_json(queries.alerts(filters, readable), filters)
    body = {
        "total": int(total),
        "delivered": int(delivered),
        "pending": int(total) - int(delivered),
        "notifier_has_run": has_run,
    }
    return json_response(body, raw={"alerts": page})


@router.get("/alerts/kinds", response_model=AlertKinds)
async def alert_kinds() -> AlertKinds:
    """What each alert kind means, with its title and the unit of `observed`, in the order
    the dashboard stacks them (var alert_kinds of dbt_project.yml)."""
    return AlertKinds(kinds=list(VOCABULARY.alert_kinds))


@router.get("/templates/unlabelled", response_model=UnlabelledTemplates)
async def unlabelled_templates(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    model_version: VersionParam = None,
) -> UnlabelledTemplates:
    """The templates the detector flags most often that have no template label yet: what to
    label next (`make label ID=<example_log_entry_id> LABEL=anomalous|normal`; the next
    export uses the labels)."""
    params = {"limit": limit, "model_version": model_version}
    rows = await db(request).fetch(queries.UNLABELLED_TEMPLATES, params)
    version = rows[0]["model_version"] if rows else model_version
    return UnlabelledTemplates.model_validate({"model_version": version, "templates": rows})
