"""Everything the API serves goes through the redaction rules. In this module's clone of the
built pipeline, with an incident raised by bursts, every column of the output tables that holds
log text (messages, explanations, examples, incident titles; jsonb details and incident
templates) gets a secret appended; then every GET operation of the OpenAPI document (each
`action` of the old /api/ml_lightweight too; path parameters from PATH_VALUES) and POST /api/ml
must serve no secret, and the operations that serve log text show the marker instead. An
endpoint added later is walked without changing this test (one with a new path parameter
fails until PATH_VALUES names a row for it)."""

from __future__ import annotations

from typing import Any

import pytest
from psycopg import sql

from dbt_project.database import connect
from dev.api_server import client as api_client
from dev.db import fetch_all
from tests.python.harness.bursts import raise_an_incident
from tests.python.harness.prepared import Prepared

pytestmark = pytest.mark.slow  # its module fixture builds a database with dbt (minutes)

SECRET = "hunter2zq9"
LEAK = f" password={SECRET}"
MARKER = "password=[REDACTED:secret_field]"
# The columns that hold log text, by name, in the output schema's tables (an incident's title
# and templates quote an example line).
TEXT_COLUMNS = """
select c.table_name, c.column_name, c.data_type
from information_schema.columns as c
join information_schema.tables as t using (table_schema, table_name)
where c.table_schema = 'ml' and t.table_type = 'BASE TABLE'
  and (
      (c.data_type in ('text', 'character varying')
       and c.column_name ~ '(message|explanation|example|title)')
      or (c.data_type = 'jsonb' and c.column_name in ('details', 'templates'))
  )
order by 1, 2
"""
# A value for each path parameter of the OpenAPI document: a row the tables hold.
PATH_VALUES = {
    "incident_id": "select incident_id from ml.ml_incidents order by started_at desc limit 1",
}


@pytest.fixture(scope="module")
def leaky(built: Prepared) -> tuple[str, list[tuple[str, str]]]:
    url = built.url
    raise_an_incident(url, built.project)  # ml_incidents and its alerts have rows to serve
    columns = [(table, column, kind) for table, column, kind in fetch_all(url, TEXT_COLUMNS)]
    with connect(url) as conn:
        for table, column, kind in columns:
            if kind == "jsonb":
                value = sql.SQL(
                    "case jsonb_typeof({c})"
                    " when 'object' then {c} || jsonb_build_object('quoted', %(leak)s::text)"
                    " when 'array' then {c} || jsonb_build_array(%(leak)s::text) else {c} end"
                )
            else:  # room for the secret whatever the column's length
                value = sql.SQL("left({c}, 200) || %(leak)s")
            conn.execute(
                sql.SQL("update ml.{t} set {c} = ").format(
                    t=sql.Identifier(table), c=sql.Identifier(column)
                )
                + value.format(c=sql.Identifier(column)),
                {"leak": LEAK},
            )
    return url, [(table, column) for table, column, _ in columns]


def test_the_secret_is_in_the_tables_the_api_reads(
    leaky: tuple[str, list[tuple[str, str]]],
) -> None:
    _, columns = leaky
    print(f"\n[redaction] secret appended to {columns}")
    assert ("ml_predictions", "message") in columns
    assert ("ml_alerts", "details") in columns
    assert ("ml_incidents", "templates") in columns


def test_no_endpoint_serves_the_secret(leaky: tuple[str, list[tuple[str, str]]]) -> None:
    url, _ = leaky
    served: dict[str, str] = {}
    with api_client(url) as client:
        spec: dict[str, Any] = client.app.openapi()  # type: ignore[attr-defined]
        for template, operations in spec["paths"].items():
            if "get" not in operations:
                continue
            path = template
            for parameter in operations["get"].get("parameters", []):
                if parameter["in"] == "path":
                    name = parameter["name"]
                    assert name in PATH_VALUES, f"{template}: give PATH_VALUES a {name}"
                    found = fetch_all(url, PATH_VALUES[name])
                    assert found, f"{template}: no row for {name} in the built pipeline"
                    path = path.replace(f"{{{name}}}", str(found[0][0]))
            actions = [None]
            for parameter in operations["get"].get("parameters", []):
                if parameter["name"] == "action":
                    actions = parameter["schema"]["enum"]
            for action in actions:
                params = {"action": action} if action else {}
                response = client.get(path, params=params)
                assert response.status_code == 200, (path, action, response.text[:300])
                served[f"GET {template} {action or ''}".strip()] = response.text
        ids = [
            row[0] for row in fetch_all(url, "select log_entry_id from ml.ml_predictions limit 5")
        ]
        payload = {"action": "analyze", "log_data": [{"id": str(each)} for each in ids]}
        response = client.post("/api/ml", json=payload)
        assert response.status_code == 200, response.text[:300]
        served["POST /api/ml"] = response.text
    leaking = sorted(name for name, text in served.items() if SECRET in text)
    assert not leaking, f"the secret is served by {leaking}"
    redacted = sorted(name for name, text in served.items() if MARKER in text)
    print(f"[redaction] {len(served)} operations, the marker in {redacted}")
    for expected in (
        "GET /api/v1/predictions",
        "GET /api/logs",
        "GET /api/v1/alerts",
        "GET /api/v1/incidents",
        "GET /api/v1/incidents/{incident_id}",
        "GET /api/v1/incidents/{incident_id}/lines",
    ):
        assert expected in redacted
