"""One error shape for every endpoint, the old one: {"success": false, "error": "..."}."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from api.database import DatabaseOffline, NotInitialized, QueryTimeout


class ErrorBody(BaseModel):
    success: bool = False
    error: str


class BadParameter(Exception):
    """A parameter that passed type validation but is still wrong (e.g. a forged cursor)."""


# For the OpenAPI document: what each endpoint may answer besides 200.
ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    400: {"model": ErrorBody, "description": "invalid parameter"},
    503: {
        "model": ErrorBody,
        "description": "database unreachable, tables not built yet, or query timed out",
    },
}


def error_response(
    status: int, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"success": False, "error": message}, status_code=status, headers=headers)


def _describe(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error.get("loc", ()) if part != "query")
        parts.append(f"{where}: {error.get('msg', 'invalid')}" if where else error.get("msg", ""))
    return "invalid parameter: " + "; ".join(parts)


def install(app: FastAPI) -> None:
    """Register the handlers that turn exceptions into the error shape."""

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(400, _describe(exc))

    @app.exception_handler(BadParameter)
    async def bad_parameter(_: Request, exc: BadParameter) -> JSONResponse:
        return error_response(400, f"invalid parameter: {exc}")

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        # headers: e.g. the Allow list of a 405
        return error_response(exc.status_code, str(exc.detail), exc.headers)

    @app.exception_handler(DatabaseOffline)
    @app.exception_handler(QueryTimeout)
    async def unavailable(_: Request, exc: Exception) -> JSONResponse:
        return error_response(503, str(exc))

    @app.exception_handler(NotInitialized)
    async def not_initialized(_: Request, exc: NotInitialized) -> JSONResponse:
        return error_response(503, f"not_initialized: {exc}")
