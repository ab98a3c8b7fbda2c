"""Who may read the API, the dashboard and /docs (docs/team-access.md).

When the settings require it (Settings.api_requires_auth: a non-loopback API_HOST unless
API_ALLOW_UNAUTHENTICATED, or API_AUTH_REQUIRED, or a proxy header), every request must say who
sent it, in one of three ways:
- `Authorization: Bearer <token>`, a token made by `python -m api tokens create` (scripts, the
  old frontend behind a proxy that adds it);
- the session cookie that the sign-in page (/login) sets from such a token, so the dashboard
  and /docs work in a browser: HttpOnly (the page's scripts never see it), SameSite=Strict,
  gone when the browser closes;
- the header API_AUTH_PROXY_HEADER, believed only from API_AUTH_PROXY_ADDRESSES (the peer of
  the TCP connection, never a forwarded-for header), for a reverse proxy that signs users in.
Anything else gets 401 under /api/ and a redirect to /login elsewhere; the sign-in page, its
assets and Swagger UI's static files are public (they hold no data).

An ASGI middleware, not a FastAPI dependency: it must run before the response cache
(api/cache.py), which would otherwise replay a stored answer to anyone. Everyone who is signed
in reads the same data, so the cache is shared between them."""

from __future__ import annotations

import html
import string
import time
import urllib.parse
from http.cookies import SimpleCookie
from ipaddress import IPv4Network, IPv6Network, ip_address

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from api.database import Database, DatabaseOffline, NotInitialized, QueryTimeout
from api.errors import error_response
from api.page import STATIC_DIR
from api.tokens import digest
from dbt_project.settings import Settings

COOKIE = "logml_session"
# A revoked or expired token stops working within this many seconds (answers are kept that long
# per worker, so a page's polling does not query the token table on every request).
TOKEN_RECHECK_SECONDS = 10.0
_MAX_REMEMBERED = 4096
PUBLIC_PATHS = frozenset({"/login", "/auth/session", "/auth/logout"})
PUBLIC_PREFIXES = ("/static/", "/docs/assets/")

TOKEN_USER = """
select name from ml_api_tokens
where token_sha256 = %(digest)s and revoked_at is null and coalesce(expires_at > now(), true)
"""


class TokenCheck:
    """Token -> the name it was made for (None: no such token, revoked or expired), with the
    answers kept for TOKEN_RECHECK_SECONDS."""

    def __init__(self) -> None:
        self._answers: dict[str, tuple[str | None, float]] = {}

    async def user(self, db: Database, token: str) -> str | None:
        key = digest(token)
        known = self._answers.get(key)
        if known is not None and time.monotonic() - known[1] < TOKEN_RECHECK_SECONDS:
            return known[0]
        rows = await db.fetch(TOKEN_USER, {"digest": key})
        if len(self._answers) >= _MAX_REMEMBERED:
            self._answers.clear()
        self._answers[key] = (rows[0]["name"] if rows else None, time.monotonic())
        return self._answers[key][0]


def _headers(scope: Scope) -> dict[str, str]:
    # header names arrive lower-cased (ASGI); a repeated header keeps its first value
    found: dict[str, str] = {}
    for name, value in scope["headers"]:
        found.setdefault(name.decode("latin-1"), value.decode("latin-1"))
    return found


def presented_token(headers: dict[str, str]) -> str | None:
    """The bearer token of the Authorization header, else the session cookie's."""
    scheme, _, credentials = headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    cookie = SimpleCookie()
    try:
        cookie.load(headers.get("cookie", ""))
    except Exception:  # a malformed Cookie header presents no token
        return None
    morsel = cookie.get(COOKIE)
    return morsel.value if morsel is not None and morsel.value else None


class Authentication:
    """The ASGI middleware: lets a request through only with a known user (see the module)."""

    def __init__(self, app: ASGIApp, settings: Settings, tokens: TokenCheck) -> None:
        self.app = app
        self.tokens = tokens
        header = settings.api_auth_proxy_header
        self.proxy_header = header.lower() if header else None
        self.proxies = settings.api_auth_proxy_addresses

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):
            await self.app(scope, receive, send)
            return
        try:
            user = await self.user(scope)
        except (DatabaseOffline, QueryTimeout) as exc:
            await error_response(503, str(exc))(scope, receive, send)
            return
        except NotInitialized:
            message = "not_initialized: no token table yet: run `python -m api tokens create NAME`"
            await error_response(503, message)(scope, receive, send)
            return
        if user is not None:
            scope.setdefault("state", {})["user"] = user
            await self.app(scope, receive, send)
        elif path.startswith("/api/"):
            response = error_response(
                401,
                "authentication required: send Authorization: Bearer <token> (a token from"
                " `python -m api tokens create NAME`) or sign in at /login",
                {"WWW-Authenticate": 'Bearer realm="logml"'},
            )
            await response(scope, receive, send)
        else:
            query = urllib.parse.urlencode({"next": path})
            await RedirectResponse(f"/login?{query}", status_code=303)(scope, receive, send)

    async def user(self, scope: Scope) -> str | None:
        """The user the request comes from: the proxy's header, else a token's name."""
        headers = _headers(scope)
        if self.proxy_header and from_proxy(scope, self.proxies):
            named = headers.get(self.proxy_header, "").strip()
            if named:
                return named
        token = presented_token(headers)
        if token is None:
            return None
        db: Database = scope["app"].state.db
        return await self.tokens.user(db, token)


def from_proxy(scope: Scope, proxies: list[IPv4Network | IPv6Network]) -> bool:
    """Whether the TCP peer is one of the proxies (`python -m api` runs uvicorn without its
    X-Forwarded-For rewriting, so the peer is the connection's, not a header's claim)."""
    client = scope.get("client")
    if not client:
        return False
    try:
        peer = ip_address(client[0])
    except ValueError:  # not an IP peer (a test client, a Unix socket)
        return False
    return any(peer in network for network in proxies)


router = APIRouter(include_in_schema=False)
_SIGN_IN_PAGE = string.Template((STATIC_DIR / "login.html").read_text(encoding="utf-8"))


def _safe_next(target: str | None) -> str:
    """Where to go after signing in: a path of this site only (never //host or a URL)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


@router.get("/login")
async def login_page(next: str | None = None, failed: str | None = None) -> HTMLResponse:
    """The sign-in form; `next` is where it goes afterwards, `failed` shows the refusal."""
    page = _SIGN_IN_PAGE.substitute(
        next=html.escape(_safe_next(next)), failed_hidden="" if failed else "hidden"
    )
    return HTMLResponse(page, headers={"Cache-Control": "no-store"})


@router.post("/auth/session")
async def sign_in(request: Request) -> Response:
    """The sign-in form (token, next): a known token sets the session cookie and goes on to
    `next`; anything else goes back to the form."""
    form = urllib.parse.parse_qs((await request.body()).decode("utf-8", "replace"))
    token = (form.get("token") or [""])[0].strip()
    target = _safe_next((form.get("next") or [""])[0])
    tokens: TokenCheck = request.app.state.tokens
    user = await tokens.user(request.app.state.db, token) if token else None
    if user is None:
        query = urllib.parse.urlencode({"next": target, "failed": "1"})
        return RedirectResponse(f"/login?{query}", status_code=303)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", secure=_https(request))
    return response


def _https(request: Request) -> bool:
    """Whether the browser reached us over HTTPS: directly, or through a listed proxy that
    says so (X-Forwarded-Proto)."""
    if request.url.scheme == "https":
        return True
    settings: Settings = request.app.state.db.settings
    forwarded = request.headers.get("x-forwarded-proto", "").strip().lower()
    return forwarded == "https" and from_proxy(request.scope, settings.api_auth_proxy_addresses)


@router.get("/auth/user")
async def who_am_i(request: Request) -> JSONResponse:
    """Who the page is signed in as (null when authentication is off); never cached."""
    user = getattr(request.state, "user", None)
    return JSONResponse({"user": user}, headers={"Cache-Control": "no-store"})


@router.post("/auth/logout")
async def sign_out() -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, httponly=True, samesite="strict")
    return response
