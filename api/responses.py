"""JSON responses written without a second pass through Python objects: the body's own keys
with json.dumps, and parts that the database already wrote as JSON text spliced in as they
are (api/database.py `fetch_json`)."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from fastapi.responses import Response


def now() -> str:
    """The current time, UTC, ISO 8601 (every `timestamp` field)."""
    return datetime.now(UTC).isoformat()


def _iso(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def json_text(body: Mapping[str, Any], raw: Mapping[str, str] | None = None) -> str:
    """`body` as a JSON object, then each key of `raw` with its value, JSON text already."""
    content = json.dumps(body, default=_iso, separators=(",", ":"), allow_nan=False)
    if raw:
        spliced = ",".join(f"{json.dumps(key)}:{value}" for key, value in raw.items())
        content = f"{content[:-1]}{',' if body else ''}{spliced}}}"
    return content


def json_response(
    body: Mapping[str, Any], status_code: int = 200, raw: Mapping[str, str] | None = None
) -> Response:
    """A JSON response of `json_text(body, raw)`."""
    return Response(json_text(body, raw), status_code=status_code, media_type="application/json")


class Stopwatch:
    """Milliseconds since it was made: the measured `query_time` of the old endpoints."""

    def __init__(self) -> None:
        self.started = time.perf_counter()

    def ms(self) -> float:
        return round((time.perf_counter() - self.started) * 1000, 2)

    def text(self) -> str:
        return f"{self.ms()}ms (database)"
