"""The documented policy for bad input (ingest/__init__.py), exactly: the good
rows load, every bad line is recorded with its reason, a load is one transaction."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dbt_project.database import connect
from dev.db import fetch_all
from dev.pipeline import create_source, load_sources, run_module
from ingest.entries import MAX_LINE_BYTES, Entry, Rejected
from ingest.loghub import LoghubCsv
from ingest.textfiles import TextLog, json_lines, line_parser

HEADER = b"LineId,Date,Time,Pid,Level,Component,Content,EventId,EventTemplate"
BAD_CSV_LINES = [  # physical line 2 onwards, with what must happen to each
    (b"1,081109,203615,148,INFO,dfs.DataNode,good one,E1,t", "loaded"),
    (b"2,081109,203615,148,INFO,dfs.DataNode,bad \xff byte,E1,t", "invalid_utf8"),
    (b"3,081109,203615,148,INFO,dfs.DataNode," + b"a" * MAX_LINE_BYTES + b",E1,t", "line_too_long"),
    (b"4,081109,203615,148,INFO", "broken_csv_row"),
    (b"5,081109,203615,148,LOUD,dfs.DataNode,level nobody knows,E1,t", "loaded"),
    (b"6,081109,203615,148,INFO,dfs.DataNode,,E1,t", "empty_message"),
    (b"7,081399,203615,148,INFO,dfs.DataNode,month 13,E1,t", "bad_timestamp"),
    (b"1,081109,203616,148,INFO,dfs.DataNode,same id as line 2,E1,t", "duplicate_log_id"),
    (b"8,081109,203615,148,INFO,dfs.DataNode,nul \x00 here,E1,t", "nul_character"),
    (b'9,081109,203615,148,INFO,dfs.DataNode,"never closed,E1,t', "broken_csv_row"),
    (b"10,081109,203617,148,WARN,dfs.DataNode,good two,E1,t", "loaded"),
]


@pytest.fixture(scope="module")
def _module_source(module_db: str) -> str:
    create_source(module_db)
    return module_db


@pytest.fixture
def db(_module_source: str) -> str:
    """The module's database with an empty source table and no load recorded yet."""
    with connect(_module_source) as conn:
        conn.execute("truncate ml.log_loads, ml.log_load_rejects")
        conn.execute("truncate log_entries restart identity")
    return _module_source


def _write(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"\r\n".join(lines) + b"\r\n")
    return path


def test_partly_bad_csv_loads_exactly_the_good_rows(db: str, tmp_path: Path) -> None:
    path = _write(tmp_path / "HDFS_2k.log_structured.csv", [HEADER, *(b for b, _ in BAD_CSV_LINES)])
    report = load_sources(db, [LoghubCsv(path)])

    expected = Counter(outcome for _, outcome in BAD_CSV_LINES)
    loaded = expected.pop("loaded")
    assert (report.rows_read, report.rows_loaded) == (len(BAD_CSV_LINES), loaded)
    assert report.rejects == expected
    assert report.unknown_levels == 1

    rows = fetch_all(
        db, "select log_id, level::text, structured_data->>'raw_level' from log_entries order by id"
    )
    assert rows == [("HDFS-1", "INFO", None), ("HDFS-5", None, "LOUD"), ("HDFS-10", "WARN", None)]
    rejects = fetch_all(
        db,
        "select line_number, reason from ml.log_load_rejects where load_id = %s order by 1",
        (report.load_id,),
    )
    assert rejects == [
        (line, outcome)
        for line, (_, outcome) in enumerate(BAD_CSV_LINES, start=2)
        if outcome != "loaded"
    ]
    [(counts, logged)] = fetch_all(db, "select reject_counts, rows_loaded from ml.log_loads")
    assert (Counter(counts), logged) == (expected, loaded)


def test_bad_json_lines(db: str, tmp_path: Path) -> None:
    lines = [
        '{"timestamp": "2026-01-01T10:00:00+01:00", "level": "warning", "message": "tab\\there",'
        ' "http_status": 503, "response_time_ms": 12.5, "trace": "abc"}',
        '{"timestamp": 1700000000, "level": "weird", "message": "epoch seconds"}',
        '{"timestamp": "not a time", "level": "INFO", "message": "x"}',
        '{"timestamp": "2026-01-01", "level": "INFO", "message": null}',
        '{"timestamp": "2026-01-01", "level": "INFO", "message": "   "}',
        '{"timestamp": "2026-01-01", "message": "nul \\u0000"}',
        '{"timestamp": "2026-01-01", "message": "lone \\ud800 surrogate"}',
        '{"timestamp": "2026-01-01", "message": "m", "http_status": "500"}',
        '["not", "an", "object"]',
        "{broken json",
        "",
    ]
    path = _write(tmp_path / "app.jsonl", [line.encode() for line in lines])
    report = load_sources(db, [json_lines(path)])
    assert report.rows_loaded == 2
    assert report.rejects == Counter(
        bad_timestamp=1, empty_message=2, nul_character=1, invalid_utf8=1, bad_value=1,
        invalid_json=3,
    )  # fmt: skip
    rows = fetch_all(
        db,
        "select log_id, level::text, message, http_status, response_time_ms::float, "
        "structured_data from log_entries order by id",
    )
    assert rows == [
        ("app.jsonl-1", "WARN", "tab\there", 503, 12.5, {"trace": "abc"}),
        ("app.jsonl-2", None, "epoch seconds", None, None, {"raw_level": "weird"}),
    ]
    first = fetch_all(db, "select \"timestamp\" from log_entries where log_id = 'app.jsonl-1'")
    assert first == [(datetime(2026, 1, 1, 9, 0, tzinfo=UTC),)]


def test_named_format_and_regex(db: str, tmp_path: Path) -> None:
    path = _write(
        tmp_path / "app.log",
        [
            b"2024-01-02 03:04:05,678 - app.db - ERROR - connection lost",
            b"a stack trace line that is not a record",
            b"2024-01-02 03:04:06,000 - app - NOTICE - started",
        ],
    )
    report = load_sources(db, [TextLog(path, line_parser("python-logging", None), "app")])
    assert (report.rows_loaded, report.rejects) == (2, Counter(unparsable_line=1))
    regex = r"(?P<timestamp>\S+ \S+) - (?P<category>\S+) - (?P<level>\w+) - (?P<message>.*)"
    again = load_sources(db, [TextLog(path, line_parser(None, regex))])
    # Same file, same line numbers: the log_ids exist already and are skipped, not doubled.
    assert again.rejects == Counter(unparsable_line=1, duplicate_log_id=2)
    rows = fetch_all(
        db, "select log_id, level::text, category, service from log_entries order by 1"
    )
    assert rows == [("app.log-1", "ERROR", "app.db", "app"), ("app.log-3", "INFO", "app", "app")]


def test_missing_file_is_a_clear_error_and_loads_nothing(db: str, tmp_path: Path) -> None:
    good = _write(tmp_path / "good.jsonl", [b'{"timestamp": "2026-01-01", "message": "fine"}'])
    result = run_module(db, "ingest", "jsonl", str(good), str(tmp_path / "nope"))
    assert result.returncode == 2
    assert f"no such file: {tmp_path / 'nope'}" in result.stderr
    assert fetch_all(db, "select count(*) from log_entries") == [(0,)]
    assert fetch_all(db, "select count(*) from ml.log_loads") == [(0,)]


class _Interrupted:
    """A source that fails half-way, after more rows than one COPY chunk."""

    name = "interrupted"
    size = 0

    def bytes_read(self) -> int:
        return 0

    def __iter__(self) -> Iterator[tuple[int, Entry | Rejected, str]]:
        for n in range(1, 20_001):
            yield n, Entry(timestamp=datetime.now(UTC), message=f"line {n}"), ""
            if n % 7 == 0:
                yield n, Rejected("empty_message"), ""
        raise KeyboardInterrupt


def test_an_interrupted_load_leaves_nothing(db: str, tmp_path: Path) -> None:
    good = _write(tmp_path / "first.jsonl", [b'{"timestamp": "2026-01-01", "message": "fine"}'])
    with pytest.raises(KeyboardInterrupt):
        load_sources(db, [json_lines(good), _Interrupted()])
    assert fetch_all(db, "select count(*) from log_entries") == [(0,)]
    assert fetch_all(db, "select count(*) from ml.log_load_rejects") == [(0,)]
    assert fetch_all(db, "select count(*) from ml.log_loads") == [(0,)]


def test_json_lines_round_trip_special_characters(db: str, tmp_path: Path) -> None:
    messages = ["back\\slash", "tab\tand\nnewline\r", "ünïcødé ✓ 日本", "\\N", "quote \" '"]
    path = _write(
        tmp_path / "chars.jsonl",
        [json.dumps({"timestamp": "2026-01-01", "message": m}).encode() for m in messages],
    )
    assert load_sources(db, [json_lines(path)]).rows_loaded == len(messages)
    assert [m for (m,) in fetch_all(db, "select message from log_entries order by id")] == messages
