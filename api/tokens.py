"""The API's tokens: made, listed and revoked by `python -m api tokens` (as the owner of the
data, through the commands' connection), checked by api/auth.py (as the read-only role).

A token is `logml_` and 43 URL-safe characters (256 random bits); the table ml_api_tokens
(schema migration 4) keeps only its SHA-256 digest, so a copy of the table lets no one in. The
token is shown once, when it is made."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from dbt_project.database import output_table
from dbt_project.errors import InputError

TABLE = "ml_api_tokens"
PREFIX = "logml_"


def digest(token: str) -> str:
    """The SHA-256 digest a token is stored and looked up by (hex)."""
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(conn: psycopg.Connection, name: str, expires_at: datetime | None = None) -> str:
    """A new token named `name` (unique among the tokens not revoked); returns the token."""
    if not name.strip() or len(name) > 100:
        raise InputError("a token's name must be 1 to 100 characters, e.g. the person's name")
    token = PREFIX + secrets.token_urlsafe(32)
    try:
        conn.execute(
            sql.SQL("insert into {} (name, token_sha256, expires_at) values (%s, %s, %s)").format(
                output_table(TABLE)
            ),
            (name, digest(token), expires_at),
        )
    except psycopg.errors.UniqueViolation:
        raise InputError(
            f"a token named {name!r} exists: revoke it first (python -m api tokens revoke"
            f" {name!r}) or choose another name"
        ) from None
    return token


def list_tokens(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """Every token (never the token itself), newest first, with whether it still works."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            sql.SQL(
                "select name, created_at, created_by, expires_at, revoked_at,"
                " revoked_at is null and coalesce(expires_at > now(), true) as active"
                " from {} order by created_at desc, token_id desc"
            ).format(output_table(TABLE))
        )
        return cur.fetchall()


def revoke_token(conn: psycopg.Connection, name: str) -> None:
    """Revoke the token named `name`; the API refuses it within TOKEN_RECHECK_SECONDS."""
    revoked = conn.execute(
        sql.SQL("update {} set revoked_at = now() where name = %s and revoked_at is null").format(
            output_table(TABLE)
        ),
        (name,),
    )
    if revoked.rowcount == 0:
        raise InputError(f"no token named {name!r} that is not revoked (python -m api tokens list)")
