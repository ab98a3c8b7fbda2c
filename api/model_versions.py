"""/api/v1/models (versions, their roles, held-out metrics) and /api/v1/models/comparison (the
champion/challenger table per day), both read from the dbt marts ml_model_versions and
ml_model_comparison."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from api import queries
from api.errors import ERROR_RESPONSES
from api.schemas import Comparison, Models
from api.v1 import PRINTABLE, db

router = APIRouter(prefix="/api/v1", tags=["v1"], responses=ERROR_RESPONSES)


def _version(default: str) -> Any:
    return Query(max_length=100, pattern=PRINTABLE, description=f"default: {default}")


@router.get("/models", response_model=Models)
async def models(request: Request) -> Models:
    """Every registered model version with its role and held-out metrics."""
    database = db(request)
    return Models.model_validate(
        {
            "models": await database.fetch(queries.MODELS),
            "versions": await database.fetch(queries.VERSIONS),
        }
    )


@router.get("/models/comparison", response_model=Comparison)
async def comparison(
    request: Request,
    baseline: Annotated[str | None, _version("the active version")] = None,
    candidate: Annotated[str | None, _version("the challenger")] = None,
    days: Annotated[int, Query(ge=1, le=366, description="days back from the newest")] = 30,
) -> Comparison:
    """Two versions side by side, per day, on the logs both scored: agreement, anomaly rates,
    predicted-level counts and, where the truth is known, level accuracy and anomaly
    precision/recall/F1. The pair may be named in either order (the older version is the
    baseline). Without parameters: the active version against the challenger, or, when there
    is no challenger, the pair compared most recently."""
    database = db(request)
    roles = {row["model_version"]: row["role"] for row in await database.fetch(queries.VERSIONS)}
    by_role = {role: version for version, role in roles.items()}
    first = baseline or by_role.get("active")
    second = candidate or by_role.get("challenger")
    if baseline is None and candidate is None and (first is None or second is None):
        newest = await database.fetch(queries.NEWEST_PAIR)
        if newest:
            first, second = newest[0]["baseline_version"], newest[0]["candidate_version"]
    rows = await database.fetch(
        queries.COMPARISON, {"first": first, "second": second, "days": days}
    )
    if rows:  # the table's orientation: the older version is the baseline
        first, second = rows[0]["baseline_version"], rows[0]["candidate_version"]
    return Comparison.model_validate(
        {
            "baseline_version": first,
            "candidate_version": second,
            "baseline_role": roles.get(first) if first else None,
            "candidate_role": roles.get(second) if second else None,
            "days": days,
            "rows": rows,
        }
    )
