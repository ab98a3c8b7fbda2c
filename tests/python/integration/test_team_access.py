"""Who may read the API (api/auth.py, docs/team-access.md), on a database with the schema
migrations only (the token table; who gets in does not depend on the pipeline's data): on
loopback nobody is asked; on another address every request needs a token (Bearer header, any
letter case, or the sign-in page's cookie) or a listed proxy's user header, the dashboard and
/docs send a browser to /login; a revoked or wrong token, or the header from another address,
gets nothing; API_ALLOW_UNAUTHENTICATED opts out."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import COOKIE
from api.tokens import create_token, revoke_token
from dbt_project.database import connect
from dbt_project.migrations import migrate
from dbt_project.settings import load_settings


@pytest.fixture(scope="module")
def tokens(module_db: str) -> dict[str, str]:
    with connect(module_db) as conn:
        migrate(conn)
        made = {name: create_token(conn, name) for name in ("alice", "gone")}
        revoke_token(conn, "gone")
    return made


def _client(url: str, peer: str = "testclient", **settings: Any) -> TestClient:
    app = create_app(load_settings(api_database_url=url, api_cache_seconds=0, **settings))
    return TestClient(app, follow_redirects=False, client=(peer, 50000))


@pytest.fixture(scope="module")
def team(module_db: str, tokens: dict[str, str]) -> Iterator[TestClient]:
    with _client(module_db, api_host="0.0.0.0") as client:
        yield client


def test_loopback_asks_nobody(module_db: str, tokens: dict[str, str]) -> None:
    with _client(module_db, api_host="127.0.0.1") as client:
        assert client.get("/auth/user").json() == {"user": None}


def test_another_address_refuses_a_request_without_a_token(team: TestClient) -> None:
    response = team.get("/api/v1/status")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="logml"'
    for page in ("/", "/docs"):
        response = team.get(page)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login?next=")
    assert team.get("/login").status_code == 200


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_a_token_lets_its_holder_in(team: TestClient, tokens: dict[str, str], scheme: str) -> None:
    headers = {"AUTHORIZATION": f"{scheme} {tokens['alice']}"}
    assert team.get("/auth/user", headers=headers).json() == {"user": "alice"}
    assert team.get("/api/v1/status", headers=headers).status_code != 401


@pytest.mark.parametrize("token", ["gone", "wrong", ""])
def test_a_revoked_or_unknown_token_gets_nothing(
    team: TestClient, tokens: dict[str, str], token: str
) -> None:
    presented = tokens.get(token, token)
    assert presented != tokens["alice"]
    response = team.get("/api/v1/status", headers={"Authorization": f"Bearer {presented}"})
    assert response.status_code == 401


def test_the_sign_in_page_sets_a_cookie_the_dashboard_works_with(
    module_db: str, tokens: dict[str, str]
) -> None:
    with _client(module_db, api_host="0.0.0.0") as browser:
        refused = browser.post("/auth/session", data={"token": "nope", "next": "/docs"})
        assert refused.status_code == 303 and "failed=1" in refused.headers["location"]
        assert COOKIE not in browser.cookies
        # only a path of this site is followed after signing in
        response = browser.post(
            "/auth/session", data={"token": tokens["alice"], "next": "//evil.example/"}
        )
        assert response.status_code == 303 and response.headers["location"] == "/"
        cookie = response.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie
        assert browser.get("/").status_code == 200
        assert browser.get("/auth/user").json() == {"user": "alice"}
        browser.post("/auth/logout")
        assert browser.get("/").status_code == 303


def test_a_proxy_header_counts_only_from_the_proxy(module_db: str, tokens: dict[str, str]) -> None:
    settings = {
        "api_host": "0.0.0.0",
        "api_auth_proxy_header": "X-Forwarded-User",
        "api_auth_proxy_addresses": "10.0.0.0/24",
    }
    named = {"x-forwarded-user": "bob"}
    with _client(module_db, peer="10.0.0.5", **settings) as proxied:
        assert proxied.get("/auth/user", headers=named).json() == {"user": "bob"}
        assert proxied.get("/api/v1/status").status_code == 401  # no header, no token
    with _client(module_db, peer="10.0.1.5", **settings) as other:
        assert other.get("/api/v1/status", headers=named).status_code == 401


def test_opting_out_serves_everyone(module_db: str, tokens: dict[str, str]) -> None:
    with _client(module_db, api_host="0.0.0.0", api_allow_unauthenticated=True) as client:
        assert client.get("/auth/user").json() == {"user": None}
