"""Every environment variable logml reads, typed and validated in one place (pydantic-settings).
A field's name is its variable's name in lower case (LOGML_SCHEMA -> logml_schema). No other
module reads the environment for a setting; each asks `load_settings()`, which reads the
environment as it is now (tests and commands that change it are seen) and turns a bad value
into a SettingsError that names the variable."""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from pathlib import Path
from typing import Annotated

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    IPvAnyNetwork,
    SecretStr,
    ValidationError,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from dbt_project.errors import SettingsError

PROJECT_ROOT = Path(__file__).resolve().parent.parent

_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def _sql_name(value: str) -> str:
    if not _NAME.fullmatch(value):
        raise ValueError(
            "must be a lowercase SQL name: letters a-z, digits and _, not starting with a digit,"
            " at most 63 characters"
        )
    return value


def _empty_as_none(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


def _webhook(value: SecretStr | None) -> SecretStr | None:
    scheme = value and urllib.parse.urlsplit(value.get_secret_value().strip()).scheme
    if value is not None and scheme not in ("http", "https"):
        raise ValueError("must be an http:// or https:// URL")
    return value


def _comma_list(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


def _header_name(value: str | None) -> str | None:
    if value is not None and not re.fullmatch(r"[A-Za-z0-9-]+", value):
        raise ValueError("must be an HTTP header name: letters, digits and -")
    return value


def _proxy_networks(value: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> object:
    if any(network.prefixlen == 0 for network in value):
        raise ValueError("must name the proxy, not every address (anyone could claim any user)")
    return value


def is_loopback(host: str) -> bool:
    """Whether `host` (an address or `localhost`) is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to any interface
        return False


# A schema or table name that SQL needs no quotes for, so the same value works unchanged in
# dbt's profile, in the migrations' text and in psycopg's identifiers.
SqlName = Annotated[str, AfterValidator(_sql_name)]
OptionalText = Annotated[str | None, BeforeValidator(_empty_as_none)]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    # --- the database: every command, dbt and the tests use the same one ---
    # Any PostgreSQL; unset: the embedded server in embedded_pgdata, started on demand.
    database_url: OptionalText = None
    # The embedded server's data directory (git ignores .pgdata).
    embedded_pgdata: Path = PROJECT_ROOT / ".pgdata"

    # --- where the logs are: recorded in dbt_project.yml by `make use-table` ---
    # The schema of the log table or view when dbt_project.yml records none (unset: public).
    # A recorded schema that this variable contradicts is an error (dbt_project/source.py).
    log_source_schema: Annotated[SqlName | None, BeforeValidator(_empty_as_none)] = None
    # The log table or view when dbt_project.yml records none (unset: log_entries); the same
    # rule. docs/your-table.md says which columns it needs.
    log_source_table: Annotated[SqlName | None, BeforeValidator(_empty_as_none)] = None

    # --- where logml writes: dbt's models, the registry, labels, deliveries, loads ---
    # The output schema, honoured by dbt (its profile), every command, the API and the notifier.
    logml_schema: SqlName = "ml"

    # --- alerts: the Slack-compatible webhook `python -m alerts notify` posts to ---
    # Unset: the notifier only prints how many alerts are pending.
    logml_alert_webhook_url: Annotated[
        SecretStr | None, BeforeValidator(_empty_as_none), AfterValidator(_webhook)
    ] = None

    # --- the read-only API (python -m api) ---
    # Unset: the pipeline's database as the read-only role logml_api (no password).
    api_database_url: OptionalText = None
    # The address the API binds to: loopback by default.
    api_host: str = "127.0.0.1"
    api_port: int = Field(8000, ge=1, le=65535)
    # uvicorn worker processes; each has its own pool. One per core keeps both cores serving
    # when the framework, not the database, is the busy part (see bench/api_latency.py).
    api_workers: int = Field(1, ge=1)
    # Comma-separated origins; empty: no CORS headers at all, so browsers only let
    # same-origin pages read the API.
    api_cors_origins: Annotated[list[str], NoDecode, BeforeValidator(_comma_list)] = []
    # The connection pool of each worker.
    api_pool_min_size: int = Field(2, ge=0)
    api_pool_max_size: int = Field(8, ge=1)
    # Seconds a request waits for a connection before the database counts as unreachable.
    api_pool_timeout: float = Field(3.0, gt=0)
    # Milliseconds a query of the API may run.
    api_statement_timeout_ms: int = Field(5000, ge=0)
    # How old a served GET response under /api/ may be (api/cache.py); 0 turns caching off.
    api_cache_seconds: float = Field(2.0, ge=0)

    # --- who may read the API and the dashboard (docs/team-access.md) ---
    # On a non-loopback API_HOST every request must carry a token (python -m api tokens) or
    # come from the proxy below; true asks it on a loopback API_HOST too, e.g. behind a
    # reverse proxy on the same machine.
    api_auth_required: bool = False
    # true: serve a non-loopback API_HOST without authentication anyway. Anyone who can reach
    # the port reads every log line the API serves (with its secrets redacted).
    api_allow_unauthenticated: bool = False
    # The header in which a reverse proxy names the user it authenticated (e.g.
    # X-Forwarded-User, X-Auth-Request-User); believed only from API_AUTH_PROXY_ADDRESSES.
    # Setting it turns authentication on.
    api_auth_proxy_header: Annotated[
        str | None, BeforeValidator(_empty_as_none), AfterValidator(_header_name)
    ] = None
    # Comma-separated addresses or networks of that proxy (10.0.0.5, 10.0.0.0/24, ::1).
    api_auth_proxy_addresses: Annotated[
        list[IPvAnyNetwork], NoDecode, BeforeValidator(_comma_list), AfterValidator(_proxy_networks)
    ] = []

    @model_validator(mode="after")
    def _one_way_in(self) -> Settings:
        if self.api_auth_proxy_header and not self.api_auth_proxy_addresses:
            raise ValueError(
                "API_AUTH_PROXY_HEADER needs API_AUTH_PROXY_ADDRESSES, the proxy's addresses:"
                " from anyone else the header would be a claim, not a login"
            )
        if self.api_allow_unauthenticated and (
            self.api_auth_required or self.api_auth_proxy_header
        ):
            raise ValueError(
                "API_ALLOW_UNAUTHENTICATED contradicts API_AUTH_REQUIRED and"
                " API_AUTH_PROXY_HEADER: unset one of them"
            )
        return self

    def api_requires_auth(self) -> bool:
        """Whether every request must say who sent it: on a non-loopback API_HOST unless
        API_ALLOW_UNAUTHENTICATED, and whenever API_AUTH_REQUIRED or a proxy header is set."""
        if self.api_auth_required or self.api_auth_proxy_header:
            return True
        return not is_loopback(self.api_host) and not self.api_allow_unauthenticated


# Values never echoed in a message: they may hold passwords or are secrets themselves.
_SECRET = {"database_url", "api_database_url", "logml_alert_webhook_url"}


def _message(error: ValidationError) -> str:
    problems = []
    for problem in error.errors():
        reason = problem["msg"].removeprefix("Value error, ")
        if not problem["loc"]:  # a check across variables: its reason names them
            problems.append(reason)  # (its input is every setting, secrets included)
            continue
        field = str(problem["loc"][0])
        shown = "" if field in _SECRET else f"={problem.get('input')!r}"
        problems.append(f"{field.upper()}{shown}: {reason}")
    return "; ".join(problems)


def load_settings(**overrides: object) -> Settings:
    """The settings from the environment (keyword arguments win over it)."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        raise SettingsError(_message(error)) from None
