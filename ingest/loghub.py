"""loghub structured CSVs (`<System>_2k.log_structured.csv`): one row per physical line.

Every system's level names, timestamp columns, host/category columns and the systems whose
format has no level are in SYSTEMS and explained in docs/reference/log-formats.md. log_id is
`<System>-<LineId>`, so loading the same file again skips every row as duplicate_log_id.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ingest.entries import (
    BAD_TIMESTAMP,
    BROKEN_CSV_ROW,
    UNPARSABLE_LINE,
    Entry,
    LineReader,
    Rejected,
    excerpt,
)
from ingest.levels import canonical_level

_LOG4J = {"DEBUG": "DEBUG", "INFO": "INFO", "WARN": "WARN", "ERROR": "ERROR", "FATAL": "FATAL"}
# Year of year-less formats: taken from the sample's own lines where they name it (Linux
# `... 2005` in its connection lines, Mac `2017-07-0x` in its messages), otherwise 2000, an
# explicit placeholder (a leap year, so Feb 29 parses).
PLACEHOLDER_YEAR = 2000


def _openssh_level(content: str) -> str:
    # sshd prefixes error()/fatal() messages with "error: "/"fatal: " and debug ones with
    # "debugN: "; logit() (INFO) and verbose() lines carry no prefix.
    for prefix, level in (("error:", "ERROR"), ("fatal:", "FATAL"), ("debug", "DEBUG")):
        if content.startswith(prefix):
            return level
    return "INFO"


def _proxifier_level(content: str) -> str:
    # Proxifier writes "<host>:<port> error : <reason>" for failed connections.
    return "ERROR" if " error : " in content else "INFO"


@dataclass(frozen=True)
class System:
    time_columns: tuple[str, ...]
    time_format: str  # strptime format of the time columns joined by a space; "epoch": seconds
    levels: dict[str, str] | None = None  # raw (upper-cased) -> canonical; None: no level column
    derive_level: Callable[[str], str] | None = None  # level from the message, for some formats
    year: int | None = None  # prepended to year-less timestamps
    host: str | None = None
    category: str | None = None
    level_column: str = "Level"


SYSTEMS: dict[str, System] = {
    "Android": System(
        ("Date", "Time"), "%Y %m-%d %H:%M:%S.%f", year=PLACEHOLDER_YEAR, category="Component",
        levels={"V": "DEBUG", "D": "DEBUG", "I": "INFO", "W": "WARN", "E": "ERROR",
                "F": "FATAL", "A": "FATAL"},
    ),
    "Apache": System(
        ("Time",), "%a %b %d %H:%M:%S %Y",
        levels={"DEBUG": "DEBUG", "INFO": "INFO", "NOTICE": "INFO", "WARN": "WARN",
                "ERROR": "ERROR", "CRIT": "FATAL", "ALERT": "FATAL", "EMERG": "FATAL"},
    ),
    "BGL": System(
        ("Time",), "%Y-%m-%d-%H.%M.%S.%f", host="Node", category="Component",
        levels={"DEBUG": "DEBUG", "INFO": "INFO", "WARNING": "WARN", "SEVERE": "ERROR",
                "ERROR": "ERROR", "FAILURE": "FATAL", "FATAL": "FATAL"},
    ),
    "HDFS": System(("Date", "Time"), "%y%m%d %H%M%S", levels=_LOG4J, category="Component"),
    "HPC": System(("Time",), "epoch", host="Node", category="Component"),
    "Hadoop": System(
        ("Date", "Time"), "%Y-%m-%d %H:%M:%S,%f", levels=_LOG4J, category="Component"
    ),
    "HealthApp": System(("Time",), "%Y%m%d-%H:%M:%S:%f", category="Component"),
    # loghub's Linux "Level" column is the host name ("combo"): syslog files carry no level.
    "Linux": System(
        ("Month", "Date", "Time"), "%Y %b %d %H:%M:%S", year=2005, host="Level",
        category="Component",
    ),
    "Mac": System(
        ("Month", "Date", "Time"), "%Y %b %d %H:%M:%S", year=2017, host="User",
        category="Component",
    ),
    # loghub's OpenSSH "Component" is the host name (LabSZ).
    "OpenSSH": System(
        ("Date", "Day", "Time"), "%Y %b %d %H:%M:%S", year=PLACEHOLDER_YEAR, host="Component",
        derive_level=_openssh_level,
    ),
    "OpenStack": System(
        ("Date", "Time"), "%Y-%m-%d %H:%M:%S.%f", category="Component",
        levels={"DEBUG": "DEBUG", "INFO": "INFO", "WARNING": "WARN", "ERROR": "ERROR",
                "CRITICAL": "FATAL"},
    ),
    "Proxifier": System(
        ("Time",), "%Y %m.%d %H:%M:%S", year=PLACEHOLDER_YEAR, category="Program",
        derive_level=_proxifier_level,
    ),
    "Spark": System(("Date", "Time"), "%y/%m/%d %H:%M:%S", levels=_LOG4J, category="Component"),
    "Windows": System(
        ("Date", "Time"), "%Y-%m-%d %H:%M:%S", category="Component",
        levels={"INFO": "INFO", "WARNING": "WARN", "ERROR": "ERROR", "CRITICAL": "FATAL"},
    ),
}  # fmt: skip

_FILE_NAME = re.compile(r"^(?P<system>[A-Za-z0-9]+?)(_\d+k)?\.log_structured\.csv$")


def find_csvs(path: Path) -> list[Path]:
    """The structured CSVs a path names: the file itself, or those in a system folder."""
    if path.is_dir():
        return sorted(path.glob("*_structured.csv"))
    return [path]


def system_of(path: Path) -> str:
    match = _FILE_NAME.match(path.name)
    if not match or match["system"] not in SYSTEMS:
        known = ", ".join(SYSTEMS)
        raise ValueError(
            f"{path}: cannot tell the loghub system from the file name "
            f"(expected <System>_2k.log_structured.csv with System one of {known})"
        )
    return match["system"]


def _timestamp(system: System, row: dict[str, str]) -> datetime:
    text = " ".join(row[c].strip() for c in system.time_columns)
    if system.time_format == "epoch":
        return datetime.fromtimestamp(int(text), UTC)
    if system.year is not None:
        text = f"{system.year} {text}"
    return datetime.strptime(text, system.time_format).replace(tzinfo=UTC)


class LoghubCsv:
    """An EntrySource over one structured CSV."""

    def __init__(self, path: Path, system: str | None = None) -> None:
        self.path = path
        self.name = str(path)
        self.size = path.stat().st_size
        self.system_name = system or system_of(path)
        self.system = SYSTEMS[self.system_name]
        self._lines = LineReader(path)

    def bytes_read(self) -> int:
        return self._lines.bytes_read

    def __iter__(self) -> Iterator[tuple[int, Entry | Rejected, str]]:
        lines = iter(self._lines)
        header = None
        for number, text, raw in lines:
            if isinstance(text, Rejected):
                yield number, text, raw
                continue
            fields = _split(text)
            if header is None:
                header = [h.lstrip("\ufeff") for h in fields or []]
                if "Content" not in header:
                    raise ValueError(f"{self.path}: no Content column in header {header}")
                continue
            if fields is None or len(fields) != len(header):
                found = "unparsable" if fields is None else f"{len(fields)} fields"
                detail = f"{found}, header has {len(header)}"
                yield number, Rejected(BROKEN_CSV_ROW, detail), excerpt(text)
                continue
            row = dict(zip(header, fields, strict=True))
            row.setdefault("LineId", str(number))
            try:
                yield number, row_entry(self.system_name, row), excerpt(text)
            except Rejected as error:
                yield number, error, excerpt(text)


def row_entry(system_name: str, row: dict[str, str]) -> Entry:
    """The Entry of one loghub row (structured CSV columns, or a raw line's fields)."""
    system = SYSTEMS[system_name]
    try:
        timestamp = _timestamp(system, row)
    except (KeyError, ValueError, OverflowError) as error:
        raise Rejected(BAD_TIMESTAMP, str(error)) from None
    content = row["Content"]
    raw_level = row.get(system.level_column) if system.levels is not None else None
    if system.derive_level is not None:
        level: str | None = system.derive_level(content)
    elif system.levels is not None:
        level = canonical_level(raw_level, system.levels)
    else:
        level = None  # the format has no level: NULL, not a guess
    label = row.get("Label")
    line_id = row.get("LineId")
    return Entry(
        timestamp=timestamp,
        message=content,
        level=level,
        raw_level=raw_level or None,
        log_id=f"{system_name}-{line_id}" if line_id else None,
        host=row.get(system.host) if system.host else None,
        service=system_name,
        category=row.get(system.category) if system.category else None,
        is_anomaly=None if label is None else label != "-",
        anomaly_type=label if label not in (None, "-") else None,
        structured_data={k: v for k, v in row.items() if k != "Content" and v is not None},
    )


# loghub's own log_format of each raw <System>_2k.log (its benchmark settings): <Field> is a
# field, runs of spaces match any whitespace; the fields are the structured CSV's columns.
LOG_FORMATS = {
    "Android": "<Date> <Time>  <Pid>  <Tid> <Level> <Component>: <Content>",
    "Apache": r"\[<Time>\] \[<Level>\] <Content>",
    "BGL": "<Label> <Timestamp> <Date> <Node> <Time> <NodeRepeat> <Type> <Component> <Level> "
    "<Content>",
    "HDFS": "<Date> <Time> <Pid> <Level> <Component>: <Content>",
    "HPC": "<LogId> <Node> <Component> <State> <Time> <Flag> <Content>",
    "Hadoop": r"<Date> <Time> <Level> \[<Process>\] <Component>: <Content>",
    "HealthApp": r"<Time>\|<Component>\|<Pid>\|<Content>",
    "Linux": r"<Month> <Date> <Time> <Level> <Component>(\[<PID>\])?: <Content>",
    "Mac": r"<Month>  <Date> <Time> <User> <Component>\[<PID>\]( \(<Address>\))?: <Content>",
    "OpenSSH": r"<Date> <Day> <Time> <Component> sshd\[<Pid>\]: <Content>",
    "OpenStack": r"<Logrecord> <Date> <Time> <Pid> <Level> <Component> \[<ADDR>\] <Content>",
    "Proxifier": r"\[<Time>\] <Program> - <Content>",
    "Spark": "<Date> <Time> <Level> <Component>: <Content>",
    "Windows": "<Date> <Time>, <Level>                  <Component>    <Content>",
}


def _format_regex(log_format: str) -> re.Pattern[str]:
    parts = re.split(r"(<[^<>]+>)", log_format)
    pattern = "".join(
        f"(?P<{part[1:-1]}>.*?)" if part.startswith("<") else re.sub(" +", r"\\s+", part)
        for part in parts
    )
    return re.compile(pattern.removesuffix(".*?)") + ".*)")


def raw_line_parser(system_name: str) -> Callable[[str], Entry]:
    """A parser of raw `<System>_2k.log` lines (the caller sets log_id)."""
    if system_name not in LOG_FORMATS:
        raise ValueError(f"unknown loghub system {system_name}: one of {', '.join(LOG_FORMATS)}")
    regex = _format_regex(LOG_FORMATS[system_name])

    def parse(line: str) -> Entry:
        match = regex.fullmatch(line.strip())
        if match is None:
            raise Rejected(UNPARSABLE_LINE, f"not a {system_name} log line")
        entry = row_entry(system_name, match.groupdict())
        entry.raw_log = line
        return entry

    return parse


def _split(text: str) -> list[str] | None:
    try:
        return next(csv.reader([text], strict=True), [])
    except csv.Error:
        return None
