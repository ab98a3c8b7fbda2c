"""Property: any JSON-lines input either loads or is rejected with a reason, line by line
(loaded + rejected = lines read, both visible in the database), and loaded text is exact."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dbt_project.database import connect
from dev.pipeline import create_source, load_sources
from ingest.textfiles import json_lines

pytestmark = pytest.mark.slow  # hypothesis loads many generated files (about 40 s)

_text = st.text(
    st.characters(codec="utf-8", exclude_characters="\n") | st.sampled_from("\\\t\r\x00")
)
_iso = st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat())
_objects = st.fixed_dictionaries(
    {},
    optional={
        "timestamp": st.one_of(
            _iso,
            st.integers(-(10**12), 10**12),
            st.floats(allow_nan=True),
            _text,
            st.none(),
        ),
        "level": st.one_of(st.sampled_from(["INFO", "warning", "Err", "fatal"]), _text, st.none()),
        "message": st.one_of(_text, st.none(), st.integers()),
        "host": st.one_of(_text, st.integers()),
        "http_status": st.one_of(st.integers(-5, 2000), st.floats(), _text),
        "response_time_ms": st.one_of(st.floats(), st.integers()),
        "is_anomaly": st.one_of(st.booleans(), _text),
        "extra": st.recursive(st.none() | _text | st.integers(), lambda c: st.lists(c, max_size=3)),
    },
)
_mostly_valid = st.fixed_dictionaries(
    {"timestamp": _iso, "message": _text.filter(str.strip)},
    optional={"level": st.sampled_from(["INFO", "warning", "Err", "x"]), "extra": _text},
)
_lines = st.lists(
    st.one_of(
        _mostly_valid.map(
            lambda o: json.dumps(o, ensure_ascii=False).encode("utf-8", "surrogatepass")
        ),
        _objects.map(lambda o: json.dumps(o, ensure_ascii=False).encode("utf-8", "surrogatepass")),
        _objects.map(lambda o: json.dumps(o).encode()),  # \\uXXXX escapes, lone surrogates too
        _text.map(lambda t: t.encode("utf-8", "surrogatepass")),
        st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")),
    ),
    min_size=1,
    max_size=25,
)
_files = itertools.count()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=_lines)
def test_every_line_is_loaded_or_rejected(
    lines: list[bytes], module_db: str, tmp_path_factory
) -> None:  # type: ignore[no-untyped-def]
    create_source(module_db)
    path = tmp_path_factory.mktemp("jsonl") / f"f{next(_files)}.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")

    report = load_sources(module_db, [json_lines(Path(path))], "property")

    event(f"loaded some: {report.rows_loaded > 0}")
    assert report.rows_read == len(lines)
    assert report.rows_loaded + report.rows_rejected == len(lines)
    with connect(module_db) as conn, conn.cursor() as cur:
        cur.execute(
            "select log_id, message from log_entries where log_id like %s", (f"{path.name}-%",)
        )
        loaded = dict(cur.fetchall())
        cur.execute(
            "select count(*) from ml.log_load_rejects where load_id = %s", (report.load_id,)
        )
        assert cur.fetchone() == (report.rows_rejected,)
    assert len(loaded) == report.rows_loaded
    for log_id, message in loaded.items():
        source = json.loads(lines[int(log_id.rsplit("-", 1)[1]) - 1])
        assert message == source["message"]  # escaping round-trips exactly
