"""The API lets no one do more than read. On a PostgreSQL of this module's own that requires
passwords (scram-sha-256 for every role but the bootstrap superuser), the whole pipeline runs
with a password in DATABASE_URL and the API with one in API_DATABASE_URL; then:
- the API's role (logml_api) cannot write anything nor read beyond the output tables;
- SQL injection and oversized values in every parameter of every endpoint get a 4xx, or a 200
  that carries no row (a bound parameter that matches nothing), never a 5xx, and change nothing;
- CORS is closed unless API_CORS_ORIGINS names the origin;
- neither password appears in any output, log or target file of the loader, the compiler,
  dbt or the API;
- CI audits the locked dependencies with pip-audit."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import psycopg.errors
import pytest
from psycopg import sql

from api.app import create_app
from dbt_project.database import PROJECT_ROOT, connect
from dbt_project.settings import load_settings
from dev.api_server import get, start_api
from dev.db import own_server, scalar, with_user
from dev.pipeline import build, coverage

pytestmark = pytest.mark.slow

OWNER = "logml_owner"
OWNER_PASSWORD = f"owner-pw-{uuid.uuid4().hex}"
API_PASSWORD = f"api-pw-{uuid.uuid4().hex}"


@pytest.fixture(scope="module")
def admin_url() -> Iterator[str]:
    """Our own server: a password-protected owner of the `logml` database."""
    with own_server() as (url, _):
        with connect(url) as conn, conn.cursor() as cur:
            cur.execute(
                sql.SQL(f"create role {OWNER} login createrole password {{}}").format(
                    sql.Literal(OWNER_PASSWORD)
                )
            )
            cur.execute(f"alter database logml owner to {OWNER}")
            cur.execute("show hba_file")
            hba = Path(cur.fetchone()[0])
            # The bootstrap superuser keeps trust (pgserver's start/stop need it); every other
            # role must send its password.
            hba.write_text(
                "local all postgres trust\nlocal all all scram-sha-256\n"
                "host all all 127.0.0.1/32 scram-sha-256\n"
            )
            cur.execute("select pg_reload_conf()")
        yield url


@pytest.fixture(scope="module")
def pipeline(admin_url: str, dbt_project_copy: Path) -> dict[str, Any]:
    owner_url = with_user(admin_url, OWNER, OWNER_PASSWORD)
    outputs = build(owner_url, dbt_project_copy, 1500, seed=51, artifacts=True)
    with connect(admin_url) as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("alter role logml_api password {}").format(sql.Literal(API_PASSWORD)))
    return {
        "owner_url": owner_url,
        "api_url": with_user(admin_url, "logml_api", API_PASSWORD),
        "project": dbt_project_copy,
        "outputs": outputs,
    }


def test_the_server_really_requires_the_passwords(admin_url: str, pipeline: dict[str, Any]) -> None:
    for user in (OWNER, "logml_api"):
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(with_user(admin_url, user)).close()
    assert coverage(pipeline["owner_url"]).exact


WRITES_AND_FOREIGN_READS = [
    "insert into ml.ml_predictions (log_entry_id, model_version) values (-1, 'x')",
    "update ml.ml_predictions set severity = 'info'",
    "delete from ml.ml_status_by_version",
    "truncate ml.ml_stats_hourly",
    "update ml.ml_model_registry set is_active = false",
    "drop table ml.ml_stats_windows",
    "alter table ml.ml_status add column x int",
    "create table ml.evil (x int)",
    "create table public.evil (x int)",
    "create view ml.evil as select 1",
    "alter role logml_api createrole",
    f"set role {OWNER}",
    "create role evil",
    "select count(*) from public.log_entries",
    "select count(*) from ml.log_load_rejects",
    "select count(*) from ml.stg_log_entries",
    "select count(*) from ml.ml_level_classifier_vocabulary_v1",
    "insert into public.log_entries (\"timestamp\", message) values (now(), 'x')",
    "copy ml.ml_status to program 'true'",
    "select pg_read_file('postgresql.conf')",
]


@pytest.mark.parametrize("statement", WRITES_AND_FOREIGN_READS)
def test_the_api_role_is_denied(pipeline: dict[str, Any], statement: str) -> None:
    with psycopg.connect(pipeline["api_url"]) as conn, conn.cursor() as cur:
        cur.execute("select count(*) from ml.ml_predictions")  # it does read what it serves
        assert cur.fetchone()[0] == coverage(pipeline["owner_url"]).predictions > 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            cur.execute(statement)


# Every query parameter of every endpoint gets each of these.
HOSTILE = {
    "quote": "' or '1'='1",
    "stacked": "1; drop table ml.ml_predictions; --",
    "union": "x' union select * from public.log_entries --",
    "comment": "v1'/*",
    "sleep": "1) or pg_sleep(5) is null --",
    "oversized 10k": "A" * 10_000,
    "oversized 1M+": "9" * 1_000_001,
}


def _parameters() -> list[tuple[str, str]]:
    document = create_app(load_settings(api_database_url="postgresql://unused")).openapi()
    return [
        (path, parameter["name"])
        for path, methods in document["paths"].items()
        for operation in methods.values()
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "query"
    ]


def _carries_rows(body: dict[str, Any]) -> bool:
    """Whether a 200 answer holds any served row (what an injection must never obtain)."""
    served = ("items", "results", "hours", "pairs", "services", "by_severity", "rows")
    served += ("models", "versions", "alerts", "features", "days")
    for key in served:
        if isinstance(body.get(key), list) and body[key]:  # ("days" is also a number)
            return True
    if body.get("data", {}).get("logs"):  # /api/logs
        return True
    return bool(body.get("predictions") or body.get("total_predictions"))


def test_injection_and_oversized_values_get_4xx_or_nothing(pipeline: dict[str, Any]) -> None:
    parameters = _parameters()
    assert len(parameters) >= 15, parameters  # the document lists them all
    checksum = "select md5(string_agg(t::text, '|' order by t::text)) from ml.ml_predictions t"
    before = scalar(pipeline["owner_url"], checksum)
    api = start_api(pipeline["api_url"])
    outcomes: dict[str, int] = {}
    post_outcomes: dict[str, int] = {}
    try:
        for path, name in parameters:
            for label, value in HOSTILE.items():
                code, body, _ = get(api.base, f"{path}?{name}={quote(value)}")
                if code == 200:
                    assert not _carries_rows(json.loads(body)), (path, name, label, body[:300])
                else:
                    assert 400 <= code < 500, (path, name, label, code, body[:300])
                outcomes[str(code)] = outcomes.get(str(code), 0) + 1
        # POST /api/ml takes the log ids in a JSON body (the old page sends them so)
        for label, value in HOSTILE.items():
            payload = json.dumps({"action": "analyze", "log_data": [{"id": value}]}).encode()
            headers = {"Content-Type": "application/json"}
            code, body, _ = get(api.base, "/api/ml", headers, "POST", payload)
            assert 400 <= code < 500, (label, code, body[:300])
            post_outcomes[str(code)] = post_outcomes.get(str(code), 0) + 1
    finally:
        output = api.stop()
    print(f"\n[injection] {len(parameters)} parameters x {len(HOSTILE)} values: {outcomes}")
    print(f"[injection] POST /api/ml log ids x {len(HOSTILE)} values: {post_outcomes}")
    assert sum(outcomes.values()) == len(parameters) * len(HOSTILE)
    assert scalar(pipeline["owner_url"], checksum) == before
    assert API_PASSWORD not in output


def test_cors_is_closed_by_default_and_opened_by_api_cors_origins(
    pipeline: dict[str, Any],
) -> None:
    allowed, other = "https://dashboard.example", "https://evil.example"
    preflight = {"Access-Control-Request-Method": "GET"}
    closed = start_api(pipeline["api_url"])
    base = closed.base
    try:
        for origin in (allowed, other):
            _, _, headers = get(base, "/api/v1/status", {"Origin": origin})
            assert "access-control-allow-origin" not in headers
            _, _, headers = get(base, "/api/v1/status", {"Origin": origin, **preflight}, "OPTIONS")
            assert "access-control-allow-origin" not in headers
    finally:
        closed.stop()
    opened = start_api(pipeline["api_url"], {"API_CORS_ORIGINS": allowed})
    base = opened.base
    try:
        code, _, headers = get(base, "/api/v1/status", {"Origin": allowed})
        assert code == 200 and headers["access-control-allow-origin"] == allowed
        _, _, headers = get(base, "/api/v1/status", {"Origin": other})
        assert "access-control-allow-origin" not in headers
        code, _, headers = get(base, "/api/v1/status", {"Origin": other, **preflight}, "OPTIONS")
        assert code == 400 and "access-control-allow-origin" not in headers
        _, _, headers = get(
            base,
            "/api/v1/status",
            {"Origin": allowed, "Access-Control-Request-Method": "DELETE"},
            "OPTIONS",
        )
        assert "DELETE" not in headers.get("access-control-allow-methods", "")
    finally:
        opened.stop()


def test_passwords_never_reach_outputs_logs_or_files(pipeline: dict[str, Any]) -> None:
    api = start_api(pipeline["api_url"])
    try:
        assert get(api.base, "/api/v1/status")[0] == 200
        assert get(api.base, "/api/v1/predictions?limit=3")[0] == 200
    finally:
        api_output = api.stop()
    # A wrong password: the API must not echo what it was given either.
    wrong = f"wrong-pw-{uuid.uuid4().hex}"
    bad_url = pipeline["api_url"].replace(API_PASSWORD, wrong)
    failing = start_api(bad_url, {"API_POOL_TIMEOUT": "1"})
    try:
        code, body, _ = get(failing.base, "/api/ml_lightweight?action=status")
        assert code == 503 and wrong.encode() not in body
    finally:
        api_output += failing.stop()

    project: Path = pipeline["project"]
    files = [
        path
        for folder in (project / "logs", project / "target", PROJECT_ROOT / ".dbt")
        for path in folder.rglob("*")
        if path.is_file()
    ]
    assert any(path.name == "dbt.log" for path in files), "dbt wrote its log here"
    texts = {str(path): path.read_bytes().decode(errors="replace") for path in files}
    texts |= {f"output {i}": text for i, text in enumerate(pipeline["outputs"])}
    texts["API output"] = api_output
    assert len("".join(texts.values())) > 100_000, "the logs are not empty"
    for secret in (OWNER_PASSWORD, API_PASSWORD, wrong):
        leaks = [name for name, text in texts.items() if secret in text]
        assert not leaks, f"a password appears in {leaks}"
    print(f"\n[secrets] {len(texts)} logs/outputs/files ({sum(map(len, texts.values()))} chars)")
