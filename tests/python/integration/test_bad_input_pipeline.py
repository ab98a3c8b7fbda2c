"""Bad input through the whole pipeline (loader -> staging -> compiled models -> API): each line
is either scored exactly once or counted as rejected with its reason, and no line makes a run
fail. Two sources: the ENUM table fed through the JSON-lines loader, and an application's own
table with a TEXT level column, only the required columns and NULLs allowed, written directly.

The loader alone is covered by tests/python/test_loading_bad_input.py (every reject reason) and
tests/python/test_loading_property.py (hypothesis); the tokenizer by test_tokenizer.py
(hypothesis). The end-to-end hypothesis test here feeds arbitrary text through dbt itself."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dbt_project.database import connect
from dev.api_server import client as api_client
from dev.db import scalar
from dev.pipeline import (
    END,
    cli,
    coverage,
    create_source,
    dbt,
    export,
    load_generated,
    project_copy,
)
from tests.python.harness.prepared import Prepared

pytestmark = pytest.mark.slow

SCORED = "scored"
AT = datetime.fromisoformat(END) + timedelta(hours=1)  # newer than the training logs

# One sample code point from every Unicode plane (0-16); PostgreSQL text (UTF-8) stores any
# scalar value but NUL. Planes 4-13 are unassigned, still valid code points.
PLANE_SAMPLES = {
    plane: "".join(chr((plane << 16) | low) for low in (0x0041, 0x4E2D, 0xF600, 0xFFFD))
    for plane in range(17)
}  # plane 0: "A中\uf600\ufffd"; plane 1: ... U+1F600 (an emoji) ...; 15-16: private use
CONTROLS = "".join(chr(c) for c in [*range(1, 32), *range(0x7F, 0xA0)])
BINARY = bytes(range(1, 256)).decode("latin-1")  # every byte value but NUL, as characters


def _line(label: str, **fields: Any) -> bytes:
    entry = {"timestamp": AT.isoformat(), "level": "INFO", "log_id": f"bad-{label}", **fields}
    return json.dumps({k: v for k, v in entry.items() if v is not ...}).encode()


# (label, the JSON line, what must happen: SCORED or the loader's reject reason)
LINES: list[tuple[str, bytes, str]] = [
    ("plain", _line("plain", message="a normal line"), SCORED),
    ("empty", _line("empty", message=""), "empty_message"),
    ("blank", _line("blank", message=" \t "), "empty_message"),
    ("null-message", _line("null-message", message=None), "empty_message"),
    ("no-message", _line("no-message", message=...), "empty_message"),
    ("1mb", _line("1mb", message="x" * 1_000_000), SCORED),  # staging cuts it to 8192
    ("over-1mb", _line("over-1mb", message="y" * 1_100_000), "line_too_long"),
    ("binary", _line("binary", message=BINARY), SCORED),
    ("png-header", _line("png-header", message="\x89PNG\r\n\x1a\n\x00\x00"), "nul_character"),
    ("controls", _line("controls", message=f"ctl {CONTROLS} end"), SCORED),
    ("ansi", _line("ansi", message="\x1b[31mERROR\x1b[0m disk full\r\n\tat x.y(z)"), SCORED),
    ("nul", _line("nul", message="a\x00b"), "nul_character"),
    (
        "invalid-utf8",
        b'{"timestamp": "2026-11-20T13:00:00Z", "message": "bad \xff"}',
        "invalid_utf8",
    ),
    ("surrogate", b'{"timestamp": "2026-11-20T13:00:00Z", "message": "\\ud800"}', "invalid_utf8"),
    *[
        (f"plane-{p}", _line(f"plane-{p}", message=f"plane {p}: {s}"), SCORED)
        for p, s in PLANE_SAMPLES.items()
    ],
    ("rtl-zwj", _line("rtl-zwj", message="\u202eevil\u202c \u200d\u0301 e\u0301 \ufeff"), SCORED),
    ("level-loud", _line("level-loud", level="LOUD", message="unknown level"), SCORED),
    ("level-empty", _line("level-empty", level="", message="empty level"), SCORED),
    ("level-null", _line("level-null", level=None, message="null level"), SCORED),
    ("level-notice", _line("level-notice", level=" notice ", message="synonym"), SCORED),
    (
        "all-optional-null",
        _line(
            "all-optional-null",
            message="every optional column null",
            level=None,
            **dict.fromkeys(
                (
                    "host",
                    "service",
                    "category",
                    "anomaly_type",
                    "source_type",
                    "http_status",
                    "response_time_ms",
                    "is_anomaly",
                ),
            ),
        ),
        SCORED,
    ),
    ("sql-text", _line("sql-text", message="'); drop table log_entries; --"), SCORED),
    ("bad-time", _line("bad-time", message="x", timestamp="yesterday"), "bad_timestamp"),
    ("bad-status", _line("bad-status", message="x", http_status="500"), "bad_value"),
    ("bad-source", _line("bad-source", message="x", source_type="mainframe"), "bad_value"),
    ("long-host", _line("long-host", message="x", host="h" * 300), "value_too_long"),
    ("not-object", b"[1, 2, 3]", "invalid_json"),
    ("truncated", b'{"timestamp": "2026-11-20T13:00:00Z", "mess', "invalid_json"),
    ("blank-line", b"", "invalid_json"),
    ("duplicate", _line("plain", message="same log_id as line 1"), "duplicate_log_id"),
]


@pytest.fixture(scope="module")
def enum_db(built: Prepared, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The ENUM table: trained on generated logs, then the bad lines loaded and scored."""
    path = tmp_path_factory.mktemp("bad") / "bad.jsonl"
    path.write_bytes(b"\n".join(line for _, line, _ in LINES) + b"\n")
    report = cli(built.url, "ingest", "jsonl", str(path))
    dbt(built.project, built.url, "build")  # must not fail because of any line
    return {"url": built.url, "report": report}


def test_every_line_is_scored_once_or_rejected_with_its_reason(enum_db: dict[str, Any]) -> None:
    url = enum_db["url"]
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            "select line_number, reason from ml.log_load_rejects where load_id ="
            " (select load_id from ml.log_loads order by started_at desc limit 1)"
        )
        rejected = dict(cur.fetchall())
        cur.execute(
            "select e.log_id, count(p.log_entry_id) from log_entries e"
            " left join ml.ml_predictions p on p.log_entry_id = e.id and p.model_version ="
            " (select active_model_version from ml.ml_status)"
            " where e.log_id like 'bad-%' group by e.log_id"
        )
        predictions = dict(cur.fetchall())
    outcome = {
        label: rejected.get(number, SCORED) for number, (label, _, _) in enumerate(LINES, start=1)
    }
    assert outcome == {label: expected for label, _, expected in LINES}
    scored_ids = {f"bad-{label}" for label, _, expected in LINES if expected == SCORED}
    assert predictions == dict.fromkeys(scored_ids, 1), "each loaded line scored exactly once"
    assert len(rejected) + len(predictions) == len(LINES)
    cover = coverage(url)
    assert cover.exact, cover
    counts = Counter(expected for _, _, expected in LINES)
    for reason, n in counts.items():  # and the loader says so itself
        if reason != SCORED:
            assert f"rejected {reason}: {n}" in enum_db["report"], enum_db["report"]
    print(f"\n[bad input, ENUM table via loader] {len(LINES)} lines: {dict(counts)}; {cover}")


def test_the_1mb_line_is_cut_in_staging_and_flagged(enum_db: dict[str, Any]) -> None:
    url = enum_db["url"]
    row = scalar(
        url,
        "select array[length(s.message), s.message_truncated::int] from ml.stg_log_entries s"
        " join log_entries e on e.id = s.log_entry_id where e.log_id = 'bad-1mb'",
    )
    assert row == [8192, 1]


def test_the_api_serves_the_strange_messages_intact(enum_db: dict[str, Any]) -> None:
    with api_client(enum_db["url"]) as client:
        response = client.get("/api/ml_lightweight", params={"action": "analyze"})
        assert response.status_code == 200
        served = {r["log_id"]: r["message"] for r in response.json()["results"]}
    for plane, sample in PLANE_SAMPLES.items():
        assert served[f"bad-plane-{plane}"] == f"plane {plane}: {sample}"
    assert served["bad-controls"] == f"ctl {CONTROLS} end"
    assert served["bad-binary"] == BINARY
    assert served["bad-1mb"] == "x" * 500


# --- an application's own table: TEXT level, required columns only, NULL message allowed ----
TEXT_TABLE = "app_logs"
TEXT_ENV = {"LOG_SOURCE_TABLE": TEXT_TABLE}
ODD_ROWS: list[tuple[str | None, str | None]] = [  # (level, message), inserted as they are
    ("notice", "synonym of INFO"),
    ("Warning ", "synonym of WARN with a space"),
    ("err", "synonym of ERROR"),
    ("LOUD", "unknown level"),
    ("", "empty level"),
    (None, "null level"),
    ("INFO", None),
    ("ERROR", ""),
    (None, None),
    ("DEBUG", "z" * 1_048_576),
    ("INFO", CONTROLS + BINARY),
    *[("INFO", sample) for sample in PLANE_SAMPLES.values()],
    ("x" * 10_000, "a 10k-character level"),
]


@pytest.fixture(scope="module")
def text_db(make_database: Callable[[str], str], dbt_project_copy: Path) -> dict[str, Any]:
    """A second database whose source is `app_logs`: trained on the same kind of generated
    logs (copied in from the loader's table), then the odd rows inserted as an application
    would, and scored."""
    url = make_database("badtext")
    project = project_copy(dbt_project_copy.parent / "text_project")
    create_source(url)
    load_generated(url, 1500, seed=62)
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            f"create table {TEXT_TABLE} (id bigserial primary key,"
            ' "timestamp" timestamptz not null, level text, message text)'
        )
        cur.execute(
            f'insert into {TEXT_TABLE} ("timestamp", level, message)'
            ' select "timestamp", level::text, message from log_entries order by id'
        )
        cur.executemany(
            f'insert into {TEXT_TABLE} ("timestamp", level, message) values (%s, %s, %s)',
            [(AT, level, message) for level, message in ODD_ROWS],
        )
    export(url, project, env=TEXT_ENV)
    dbt(project, url, "build", env=TEXT_ENV)
    return {"url": url, "project": project}


def test_a_text_level_table_without_optional_columns_scores_every_row(
    text_db: dict[str, Any],
) -> None:
    url = text_db["url"]
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            "select s.raw_level, s.level, s.message, s.service, s.host, count(p.log_entry_id)"
            f" from {TEXT_TABLE} a join ml.stg_log_entries s on s.log_entry_id = a.id"
            " left join ml.ml_predictions p on p.log_entry_id = a.id"
            ' where a."timestamp" = %s group by 1, 2, 3, 4, 5, a.id order by a.id',
            (AT,),
        )
        rows = cur.fetchall()
    assert [(r[0], r[5]) for r in rows] == [(level, 1) for level, _ in ODD_ROWS]
    levels = {r[0]: r[1] for r in rows}
    assert levels["notice"] == "INFO" and levels["Warning "] == "WARN"
    assert levels["err"] == "ERROR" and levels["LOUD"] is None and levels[""] is None
    assert all(r[3] is None and r[4] is None for r in rows), "absent columns are NULL"
    assert [r[2] for r in rows if r[0] == "INFO"][0] == "", "a NULL message is scored as ''"
    cover = coverage(url)
    assert cover.exact, cover
    print(f"\n[bad input, TEXT table, required columns only] {len(ODD_ROWS)} odd rows; {cover}")


# Any text PostgreSQL can store (no NUL, no lone surrogate) and any level text.
MESSAGES = st.text(st.characters(codec="utf-8", exclude_characters="\x00"))
LEVELS = st.none() | st.sampled_from(["INFO", "warning", "Crit", "", "??"]) | MESSAGES


@settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck))
@given(rows=st.lists(st.tuples(LEVELS, st.none() | MESSAGES), min_size=1, max_size=25))
def test_any_text_is_scored_exactly_once_end_to_end(
    text_db: dict[str, Any], rows: list[tuple[str | None, str | None]]
) -> None:
    url = text_db["url"]
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute(f"select coalesce(max(id), 0) from {TEXT_TABLE}")
        first = cur.fetchone()[0] + 1
        cur.executemany(
            f'insert into {TEXT_TABLE} ("timestamp", level, message) values (%s, %s, %s)',
            [(AT, level, message) for level, message in rows],
        )
    dbt(text_db["project"], url, "run", "-s", "ml_predictions", env=TEXT_ENV)
    scored = scalar(
        url,
        "select count(*) from ml.ml_predictions where log_entry_id >= %s",
        (first,),
    )
    assert scored == len(rows)
    assert coverage(url).exact
