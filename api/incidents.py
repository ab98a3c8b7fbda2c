"""/api/v1/incidents (filters, keyset pages), /api/v1/incidents/{incident_id} (with the alerts
that spoke of it) and /api/v1/incidents/{incident_id}/lines (its lines): the dbt marts
ml_incidents and ml_incident_lines (docs/concepts/incidents.md), their log text through the
redaction functions (api/queries.py REDACTED_COLUMNS). Every parameter is validated by
its declared type before any SQL runs; the SQL of these endpoints is here, beside them."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import Response
from psycopg import sql
from pydantic import BaseModel, Field

from api import queries
from api.cursors import decode_cursor, encode_cursor
from api.errors import ERROR_RESPONSES, ErrorBody
from api.responses import json_response
from api.schemas import Alert, PredictionPage
from api.v1 import PRINTABLE, Timestamp, VersionParam, db, prediction_page
from dbt_project.vocabulary import AlertSeverity

router = APIRouter(prefix="/api/v1", tags=["v1"], responses=ERROR_RESPONSES)

State = Literal["open", "resolved"]
IncidentId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="ml_incidents.incident_id")]


class Influencer(BaseModel):
    value: str = Field(description="the host, or the word")
    lines: int = Field(description="the incident's lines with it")
    share: float = Field(description="of the incident's lines")
    baseline_share: float = Field(description="of the service's other lines in the same buckets")


class TemplateExample(BaseModel):
    log_entry_id: int | None
    logged_at: datetime | None
    host: str | None
    message: str | None


class IncidentTemplate(BaseModel):
    template_hash: str
    lines: int
    expected: float = Field(description="what its baselines expected in those buckets")
    buckets: int
    new: bool = Field(description="no line of it on the service in the baseline window")
    example: TemplateExample = Field(description="its newest line")


class Incident(BaseModel):
    """A row of ml_incidents (every column is described on the dbt docs site)."""

    incident_id: str
    model_version: str
    service: str
    state: State
    severity: AlertSeverity
    opened_severity: AlertSeverity
    signals: list[str] = Field(description="burst, new_template, labelled, drop, silence")
    started_at: datetime
    last_seen_at: datetime
    ended_at: datetime | None = Field(description="null while open")
    first_bucket: datetime
    last_bucket: datetime
    buckets: int
    lines: int = Field(description="lines of its unusual templates (GET .../lines)")
    expected: float = Field(description="what their baselines expected")
    peak_bucket: datetime
    peak_lines: int
    peak_expected: float | None
    min_tail_probability: float | None
    template_count: int
    templates: list[IncidentTemplate] = Field(description="the top 5 by lines")
    hosts: list[Influencer] = Field(description="hosts over-represented in its lines")
    terms: list[Influencer] = Field(description="words over-represented in its lines")
    title: str
    detected_at: datetime
    updated_at: datetime
    resolved_at: datetime | None


class IncidentPage(BaseModel):
    items: list[Incident] = Field(description="newest first (started_at, then incident_id)")
    next_cursor: str | None = Field(
        description="pass as `cursor` for the next page; null at the end"
    )


class IncidentDetail(Incident):
    alerts: list[Alert] = Field(description="what ml_alerts said of it, newest first")


COLUMNS = tuple(Incident.model_fields)

# Filter name -> SQL condition; only these fixed fragments enter the WHERE clause.
_FILTERS: dict[str, str] = {
    "state": "state = %(state)s",
    "severity": "severity = any(%(severity)s)",
    "service": "service = %(service)s",
    "since": "last_seen_at >= %(since)s",
    "until": "started_at < %(until)s",
    # Keyset pagination, newest first: the rows strictly after the cursor's row.
    "cursor": "(started_at, incident_id) < (%(cursor_started_at)s, %(cursor_incident_id)s)",
}

# A page as JSON built by PostgreSQL (api/queries.py predictions_page does the same): the rows,
# and whether one more row than asked for exists.
_PAGE = """
select coalesce(json_agg(json_build_object({pairs}) order by p.n)
                filter (where p.n < %(limit)s), '[]')::text,
       count(*) = %(limit)s
from (
    select page.*, row_number() over (order by page.started_at desc, page.incident_id desc) as n
    from (
        select * from ml_incidents where {where}
        order by started_at desc, incident_id desc limit %(limit)s
    ) as page
) as p
"""

_ONE = "select {columns} from ml_incidents as p where p.incident_id = %(incident_id)s"

# An incident's lines as ml_predictions rows (the view ml_incident_lines says which), newest
# first, a page (and one row more).
_LINES = """
select p.* from ml_incident_lines as l
join ml_predictions as p on p.model_version = l.model_version and p.log_entry_id = l.log_entry_id
where l.incident_id = %(incident_id)s {cursor}
order by p.logged_at desc, p.log_entry_id desc
limit %(limit)s
"""
_LINES_AFTER = "and (p.logged_at, p.log_entry_id) < (%(cursor_logged_at)s, %(cursor_log_entry_id)s)"


def page_query(filters: dict[str, Any]) -> sql.Composed:
    """A page of incidents for the filters that are set (None means not set)."""
    conditions = [sql.SQL(f"model_version = {queries.REQUESTED_VERSION}")]
    conditions += [sql.SQL(_FILTERS[name]) for name in _FILTERS if filters.get(name) is not None]
    return sql.SQL(_PAGE).format(
        pairs=queries.json_pairs(COLUMNS), where=sql.SQL(" and ").join(conditions)
    )


@router.get("/incidents", response_model=IncidentPage)
async def incidents(
    request: Request,
    model_version: VersionParam = None,
    state: State | None = None,
    severity: Annotated[list[AlertSeverity] | None, Query()] = None,
    service: Annotated[str | None, Query(max_length=200, pattern=PRINTABLE)] = None,
    since: Annotated[
        Timestamp | None, Query(description="going on at or after: last_seen_at >= since")
    ] = None,
    until: Annotated[
        Timestamp | None, Query(description="started before: started_at < until")
    ] = None,
    cursor: Annotated[
        str | None, Query(max_length=200, description="next_cursor of the previous page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Response:
    """Incidents newest first (by their first line), one page at a time: the unusual buckets of
    a service grouped, with their templates, influencers and severity."""
    filters: dict[str, Any] = {
        "model_version": model_version,
        "state": state,
        "severity": severity,
        "service": service,
        "since": since,
        "until": until,
        "cursor": cursor,
        "limit": limit + 1,  # one more than asked tells whether a next page exists
    }
    if cursor is not None:
        filters["cursor_started_at"], filters["cursor_incident_id"] = decode_cursor(cursor, str)
    items, more = await db(request).fetch_json(page_query(filters), filters)
    next_cursor = None
    if more == "True":
        last = json.loads(items)[-1]
        next_cursor = encode_cursor(datetime.fromisoformat(last["started_at"]), last["incident_id"])
    return json_response({"next_cursor": next_cursor}, raw={"items": items})


@router.get(
    "/incidents/{incident_id}",
    response_model=IncidentDetail,
    responses={404: {"model": ErrorBody, "description": "no incident with this id"}},
)
async def incident(request: Request, incident_id: IncidentId) -> Response:
    """One incident, with every alert ml_alerts raised about it (opened, escalated, resolved)
    and its delivery by the notifier."""
    database = db(request)
    params: dict[str, Any] = {"incident_id": incident_id}
    columns = sql.SQL(", ").join(
        sql.SQL("{} as {}").format(queries.served(column), sql.Identifier(column))
        for column in COLUMNS
    )
    found = await database.fetch(sql.SQL(_ONE).format(columns=columns), params)
    if not found:
        raise HTTPException(404, f"no incident {incident_id}")
    readable = bool((await database.fetch(queries.DELIVERIES_READABLE))[0]["readable"])
    filters = {"incident_id": incident_id, "limit": 100}
    _, _, alerts = await database.fetch_json(queries.alerts(filters, readable), filters)
    return json_response(found[0], raw={"alerts": alerts})


@router.get("/incidents/{incident_id}/lines", response_model=PredictionPage)
async def incident_lines(
    request: Request,
    incident_id: IncidentId,
    cursor: Annotated[
        str | None, Query(max_length=200, description="next_cursor of the previous page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Response:
    """The incident's lines (ml_incident_lines: every line of its unusual templates in its
    unusual buckets) as predictions, newest first, one page at a time."""
    filters: dict[str, Any] = {"incident_id": incident_id, "limit": limit + 1}
    after = sql.SQL("")
    if cursor is not None:
        filters["cursor_logged_at"], filters["cursor_log_entry_id"] = decode_cursor(cursor, int)
        after = sql.SQL(_LINES_AFTER)
    query = queries.page_of_predictions(sql.SQL(_LINES).format(cursor=after))
    return await prediction_page(db(request), query, filters)
