"""`python -m api`: serve the API and the dashboard with uvicorn (API_HOST, API_PORT).
`python -m api tokens create NAME [--expires-in-days N] | list | revoke NAME`: the tokens that
sign people in (docs/team-access.md)."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta

import uvicorn

from api import tokens
from api.app import create_app
from dbt_project.database import job_connection
from dbt_project.errors import exit_on_error
from dbt_project.settings import Settings, is_loopback, load_settings


@exit_on_error
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m api", description=__doc__)
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("serve", help="serve the API and the dashboard (the default)")
    manage = commands.add_parser("tokens", help="the API's tokens").add_subparsers(
        dest="action", required=True
    )
    create = manage.add_parser("create", help="make a token for NAME and print it (once)")
    create.add_argument("name", help="who or what it is for, e.g. a person or a script")
    create.add_argument("--expires-in-days", type=_positive_days, help="default: never")
    manage.add_parser("list", help="every token's name, dates and state (never the token)")
    revoke = manage.add_parser("revoke", help="stop NAME's token from working")
    revoke.add_argument("name")
    args = parser.parse_args(argv)
    if args.command == "tokens":
        return _tokens(args)
    return _serve(load_settings())


def _serve(settings: Settings) -> int:
    print(f"logml dashboard: http://{settings.api_host}:{settings.api_port}/", flush=True)
    if settings.api_requires_auth():
        print(
            "authentication required: sign in at /login with a token from"
            " `python -m api tokens create NAME` (or through API_AUTH_PROXY_HEADER)",
            flush=True,
        )
    elif not is_loopback(settings.api_host):
        print(
            f"warning: API_ALLOW_UNAUTHENTICATED is set: anyone who can reach"
            f" {settings.api_host}:{settings.api_port} reads every log line served",
            file=sys.stderr,
            flush=True,
        )
    # proxy_headers off: the peer address stays the connection's, which is what
    # API_AUTH_PROXY_ADDRESSES is checked against (api/auth.py), not an X-Forwarded-For claim
    if settings.api_workers == 1:
        uvicorn.run(
            create_app(settings),
            host=settings.api_host,
            port=settings.api_port,
            proxy_headers=False,
        )
    else:  # each worker process builds its own app (and pool) from the same environment
        uvicorn.run(
            "api.app:create_app",
            factory=True,
            host=settings.api_host,
            port=settings.api_port,
            workers=settings.api_workers,
            proxy_headers=False,
        )
    return 0


def _tokens(args: argparse.Namespace) -> int:
    with job_connection() as conn:
        if args.action == "create":
            expires = None
            if args.expires_in_days:
                expires = datetime.now(UTC) + timedelta(days=args.expires_in_days)
            token = tokens.create_token(conn, args.name, expires)
            until = f" until {expires:%Y-%m-%d %H:%M} UTC" if expires else ""
            print(f"token for {args.name}{until} (shown once, store it now):\n{token}")
        elif args.action == "list":
            rows = tokens.list_tokens(conn)
            for row in rows:
                state = "active" if row["active"] else "revoked" if row["revoked_at"] else "expired"
                fields = [row["name"], state, f"created {_utc(row['created_at'])}"]
                fields[-1] += f" by {row['created_by']}"
                if row["expires_at"]:
                    fields.append(f"expires {_utc(row['expires_at'])}")
                print("\t".join(fields))
            if not rows:
                print("no tokens yet: python -m api tokens create NAME")
        else:
            tokens.revoke_token(conn, args.name)
            print(f"revoked {args.name}'s token: the API refuses it within seconds")
    return 0


def _utc(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def _positive_days(value: str) -> int:
    days = int(value)
    if days < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return days


if __name__ == "__main__":
    raise SystemExit(main())
