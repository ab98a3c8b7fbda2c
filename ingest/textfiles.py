"""Plain log files (a named format or a regex with named groups) and JSON lines.

Lines without their own id get log_id `<file name>-<line number>`, so loading a file twice
skips the second copy (duplicate_log_id). Times without a zone are UTC.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ingest import loghub
from ingest.entries import (
    BAD_TIMESTAMP,
    BAD_VALUE,
    INVALID_JSON,
    INVALID_UTF8,
    UNPARSABLE_LINE,
    Entry,
    LineReader,
    Rejected,
    excerpt,
)
from ingest.levels import canonical_level
from ingest.source_table import SOURCE_TYPES

# A parser turns one line into an Entry (log_id and service are filled in by TextLog).
LineParser = Callable[[str], Entry]


def parse_time(text: str, time_format: str | None = None) -> datetime:
    """ISO 8601 (or time_format for strptime); naive times are UTC."""
    try:
        parsed = (
            datetime.strptime(text, time_format) if time_format else datetime.fromisoformat(text)
        )
    except (ValueError, TypeError) as error:
        raise Rejected(BAD_TIMESTAMP, str(error)) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _regex_parser(pattern: str, time_format: str | None, year: int | None) -> LineParser:
    regex = re.compile(pattern)
    missing = {"timestamp", "message"} - set(regex.groupindex)
    if missing:
        raise ValueError(f"the regex needs named groups {sorted(missing)}")

    def parse(line: str) -> Entry:
        match = regex.fullmatch(line)
        if match is None:
            raise Rejected(UNPARSABLE_LINE, "line does not match the format")
        fields = match.groupdict()
        stamp = fields.pop("timestamp")
        if year is not None:
            stamp = f"{year} {stamp}"
        raw_level = fields.pop("level", None)
        return Entry(
            timestamp=parse_time(stamp, time_format),
            message=fields.pop("message"),
            level=canonical_level(raw_level),
            raw_level=raw_level,
            host=fields.pop("host", None),
            category=fields.pop("category", None),
            raw_log=line,
            structured_data={k: v for k, v in fields.items() if v is not None} or None,
        )

    return parse


# name -> (regex, strptime format or None for ISO 8601, needs a year)
FORMATS: dict[str, tuple[str, str | None, bool]] = {
    # RFC 3164 syslog as written by rsyslog to /var/log/messages: no level in the line.
    "syslog": (
        r"(?P<timestamp>\w{3} +\d{1,2} \d\d:\d\d:\d\d) (?P<host>\S+) "
        r"(?P<category>[^:\[]+)(\[(?P<pid>\d+)\])?: ?(?P<message>.*)",
        "%Y %b %d %H:%M:%S",
        True,
    ),
    "apache-error": (
        r"\[(?P<timestamp>\w{3} \w{3} \d\d \d\d:\d\d:\d\d \d{4})\] \[(?P<level>\w+)\] "
        r"(?P<message>.*)",
        "%a %b %d %H:%M:%S %Y",
        False,
    ),
    # logging.basicConfig(format="%(asctime)s - %(name)s - %(levelname)s - %(message)s")
    "python-logging": (
        r"(?P<timestamp>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) - (?P<category>.+?) - "
        r"(?P<level>[A-Z]+) - (?P<message>.*)",
        "%Y-%m-%d %H:%M:%S,%f",
        False,
    ),
}
LOGHUB_RAW = [f"loghub-raw:{name}" for name in loghub.LOG_FORMATS]


def line_parser(name: str | None, regex: str | None, year: int | None = None) -> LineParser:
    """The parser of a named format, or of a regex with named groups."""
    if regex is not None:
        return _regex_parser(regex, None, None)
    assert name is not None
    if name.startswith("loghub-raw:"):
        return loghub.raw_line_parser(name.removeprefix("loghub-raw:"))
    pattern, time_format, needs_year = FORMATS[name]
    return _regex_parser(
        pattern, time_format, (year or datetime.now(UTC).year) if needs_year else None
    )


class TextLog:
    """An EntrySource over a plain log file: one entry per line, via a LineParser."""

    def __init__(self, path: Path, parser: LineParser, service: str | None = None) -> None:
        self.name = str(path)
        self.size = path.stat().st_size
        self._prefix = path.name
        self._parser = parser
        self._service = service
        self._lines = LineReader(path)

    def bytes_read(self) -> int:
        return self._lines.bytes_read

    def __iter__(self) -> Iterator[tuple[int, Entry | Rejected, str]]:
        for number, text, raw in self._lines:
            if isinstance(text, Rejected):
                yield number, text, raw
                continue
            try:
                entry = self._parser(text)
            except Rejected as error:
                yield number, error, excerpt(text)
                continue
            entry.log_id = entry.log_id or f"{self._prefix}-{number}"
            entry.service = entry.service or self._service
            yield number, entry, excerpt(text)


_OPTIONAL_TEXT = ("log_id", "host", "service", "category", "anomaly_type")


def json_entry(obj: Any) -> Entry:
    """An Entry from one decoded JSON line; unknown keys go to structured_data."""
    if not isinstance(obj, dict):
        raise Rejected(INVALID_JSON, "a line must be a JSON object")
    data = dict(obj)
    stamp = data.pop("timestamp", None)
    if isinstance(stamp, int | float) and not isinstance(stamp, bool):
        try:
            timestamp = datetime.fromtimestamp(stamp, UTC)
        except (ValueError, OverflowError, OSError) as error:
            raise Rejected(BAD_TIMESTAMP, str(error)) from None
    elif isinstance(stamp, str):
        timestamp = parse_time(stamp)
    else:
        raise Rejected(
            BAD_TIMESTAMP, f"timestamp must be ISO 8601 text or epoch seconds: {stamp!r}"
        )
    message = data.pop("message", None)
    raw_level = data.pop("level", None)
    if message is not None and not isinstance(message, str):
        raise Rejected(BAD_VALUE, "message must be a string")
    if raw_level is not None and not isinstance(raw_level, str):
        raise Rejected(BAD_VALUE, "level must be a string")
    entry = Entry(
        timestamp=timestamp, message=message, level=canonical_level(raw_level), raw_level=raw_level
    )
    for key in _OPTIONAL_TEXT:
        value = data.pop(key, None)
        if value is not None and not isinstance(value, str):
            raise Rejected(BAD_VALUE, f"{key} must be a string")
        setattr(entry, key, value)
    source_type = data.pop("source_type", None)
    if source_type is not None and source_type not in SOURCE_TYPES:
        raise Rejected(BAD_VALUE, f"source_type must be one of {SOURCE_TYPES}")
    entry.source_type = source_type
    entry.http_status = _number(data.pop("http_status", None), "http_status", int)
    entry.response_time_ms = _number(data.pop("response_time_ms", None), "response_time_ms", float)
    anomaly = data.pop("is_anomaly", None)
    if anomaly is not None and not isinstance(anomaly, bool):
        raise Rejected(BAD_VALUE, "is_anomaly must be true or false")
    entry.is_anomaly = anomaly
    entry.structured_data = data or None
    return entry


def _number(value: Any, name: str, kind: type) -> Any:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise Rejected(BAD_VALUE, f"{name} must be a number")
    if kind is int and value != int(value):
        raise Rejected(BAD_VALUE, f"{name} must be an integer")
    return kind(value)


def json_lines(path: Path) -> TextLog:
    """An EntrySource over a JSON-lines file (a blank line is rejected as invalid_json)."""
    return TextLog(path, lambda text: json_entry(_decode(text)))


def _decode(text: str) -> Any:
    try:
        obj = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as error:
        raise Rejected(INVALID_JSON, str(error)) from None
    try:
        # JSON escapes can spell lone surrogates, which are not text PostgreSQL can store.
        json.dumps(obj, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as error:
        raise Rejected(INVALID_UTF8, str(error)) from None
    return obj
