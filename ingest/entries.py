"""What every file loader produces: entries (rows to load) and rejects (lines that cannot be),
plus the physical-line reader that enforces UTF-8 and the 1 MB line limit."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from ingest.copy_stream import escape

MAX_LINE_BYTES = 1 << 20  # lines longer than 1 MB are rejected, never truncated
EXCERPT_CHARS = 200

# Reject reasons (stable names: they are stored in log_load_rejects.reason).
INVALID_UTF8 = "invalid_utf8"
LINE_TOO_LONG = "line_too_long"
BROKEN_CSV_ROW = "broken_csv_row"
UNPARSABLE_LINE = "unparsable_line"
INVALID_JSON = "invalid_json"
EMPTY_MESSAGE = "empty_message"
BAD_TIMESTAMP = "bad_timestamp"
NUL_CHARACTER = "nul_character"
VALUE_TOO_LONG = "value_too_long"
BAD_VALUE = "bad_value"
DUPLICATE_LOG_ID = "duplicate_log_id"

# Column limits of log_entries as the old system defined it (ingest/source_table.py); longer
# values are rejected, not cut.
_MAX_CHARS = {"log_id": 255, "host": 255, "service": 255, "category": 255, "anomaly_type": 100}
_MAX_RESPONSE_MS = 99_999_999.99  # decimal(10, 2)

COLUMNS = (
    "log_id", "timestamp", "level", "message", "source_type", "host", "service", "category",
    "http_status", "response_time_ms", "is_anomaly", "anomaly_type", "raw_log", "structured_data",
)  # fmt: skip


class Rejected(Exception):
    """A line that cannot be loaded, with the reason recorded for it."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(slots=True)
class Entry:
    """One log line ready to load. `level` is canonical (or None: unknown, then `raw_level`
    keeps what the source said and goes into structured_data)."""

    timestamp: datetime
    message: str | None
    level: str | None = None
    raw_level: str | None = None
    log_id: str | None = None
    source_type: str | None = None
    host: str | None = None
    service: str | None = None
    category: str | None = None
    http_status: int | None = None
    response_time_ms: float | None = None
    is_anomaly: bool | None = None
    anomaly_type: str | None = None
    raw_log: str | None = None
    structured_data: dict[str, Any] | None = field(default=None)

    def copy_values(self) -> dict[str, str]:
        """COPY text of each column, after the checks every loader shares."""
        if self.message is None or not self.message.strip():
            raise Rejected(EMPTY_MESSAGE)
        for name, limit in _MAX_CHARS.items():
            value = getattr(self, name)
            if value is not None and len(value) > limit:
                raise Rejected(VALUE_TOO_LONG, f"{name} longer than {limit} characters")
        if self.response_time_ms is not None and not (
            0 <= self.response_time_ms <= _MAX_RESPONSE_MS
        ):
            raise Rejected(BAD_VALUE, f"response_time_ms {self.response_time_ms}")
        if self.http_status is not None and not 0 <= self.http_status < 1000:
            raise Rejected(BAD_VALUE, f"http_status {self.http_status}")
        timestamp = self.timestamp
        if timestamp.tzinfo is None:
            timestamp = timestamp.replace(tzinfo=UTC)
        data = dict(self.structured_data or {})
        if self.level is None and self.raw_level:
            data["raw_level"] = self.raw_level
        structured = json.dumps(data, ensure_ascii=False) if data else None
        values = {
            "log_id": self.log_id,
            "timestamp": timestamp.isoformat(),
            "level": self.level,
            "message": self.message,
            "source_type": self.source_type,
            "host": self.host,
            "service": self.service,
            "category": self.category,
            "http_status": self.http_status,
            "response_time_ms": self.response_time_ms,
            "is_anomaly": None if self.is_anomaly is None else ("t" if self.is_anomaly else "f"),
            "anomaly_type": self.anomaly_type,
            "raw_log": self.raw_log,
            "structured_data": structured,
        }
        text = {name: escape(value) for name, value in values.items()}
        # PostgreSQL text cannot hold NUL, and jsonb refuses the \u0000 escape.
        if any("\x00" in v for v in text.values()) or _has_nul(data):
            raise Rejected(NUL_CHARACTER)
        return text


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def excerpt(text: str | bytes) -> str:
    if isinstance(text, bytes):
        text = text[: EXCERPT_CHARS * 4].decode("utf-8", errors="replace")
    return text[:EXCERPT_CHARS].replace("\x00", "\\0")


class LineReader:
    """Physical lines of a file as (line_number, text), or Rejected for lines that are not
    UTF-8 or longer than MAX_LINE_BYTES. `bytes_read` feeds the progress bar."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.bytes_read = 0

    def __iter__(self) -> Iterator[tuple[int, str | Rejected, str]]:
        """Yields (line_number, text or Rejected, excerpt of the raw line for rejects)."""
        with self.path.open("rb") as handle:
            number = 0
            while True:
                raw, size = _read_line(handle)
                if not size:
                    return
                number += 1
                self.bytes_read += size
                raw = raw.rstrip(b"\n").removesuffix(b"\r")
                if len(raw) > MAX_LINE_BYTES:
                    reject = Rejected(LINE_TOO_LONG, f"{size} bytes, limit {MAX_LINE_BYTES}")
                    yield number, reject, excerpt(raw)
                    continue
                try:
                    yield number, raw.decode("utf-8"), ""
                except UnicodeDecodeError as error:
                    yield number, Rejected(INVALID_UTF8, str(error)), excerpt(raw)


def _read_line(handle: BinaryIO) -> tuple[bytes, int]:
    """(the line, or its first MAX_LINE_BYTES + 1 bytes when longer; its full size in bytes).
    Reads a long line in bounded pieces so it never sits in memory whole."""
    line = handle.readline(MAX_LINE_BYTES + 3)
    size = len(line)
    if line.endswith(b"\n") or size <= MAX_LINE_BYTES:
        return line, size
    while True:
        rest = handle.readline(MAX_LINE_BYTES)
        size += len(rest)
        if not rest or rest.endswith(b"\n"):
            return line, size
