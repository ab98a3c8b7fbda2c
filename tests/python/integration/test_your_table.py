"""Your own table, as docs/your-table.md tells it, in one database over its life: a table with
other column names and level names, read through a view and recorded with `use-table` (MAP,
LEVELS); a green build scoring every row with its source recorded; a prune of the oldest day
that the outputs follow; a switch to another table whose ids overlap the first one's, which
stops the run with a message until a version is trained on it, and then scores it from its
first row. Each bad column is refused by `use-table` with a message naming it, and nothing is
recorded. (An upgrade from the previous release: test_migrations.py.)"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from dev.db import fetch_all, scalar
from dev.pipeline import dbt, export, project_copy, run_module, start_dbt

pytestmark = pytest.mark.slow

ROWS = 3_000
MAP = "id=event_id,timestamp=ts,level=severity,service=component,message=body,host=node"
# the app's own level names, and two it invented
SEVERITIES = "array['info', 'warning', 'error', 'debug', 'LOUD', 'sev3']"
BODIES = (
    "array['user %s logged in', 'disk %s nearly full', 'request %s failed: timeout',"
    " 'cache lookup key=%s', 'worker %s heartbeat', 'payment %s declined']"
)


def _events(url: str, table: str, rows: int, first_id: int = 1) -> None:
    """app.<table> with the app's names for logml's columns, `rows` lines a minute apart."""
    last_id = first_id + rows - 1
    fetch_all(
        url,
        f"create schema if not exists app; create table app.{table} ("
        " event_id bigint primary key, ts timestamptz not null, severity text,"
        " component text, body text not null, node text);"
        f" insert into app.{table} select g, timestamptz '2026-11-20 00:00+00'"
        f" + (g - {first_id}) * interval '1 minute',"
        f" ({SEVERITIES})[1 + g % 6], (array['web', 'db', 'queue'])[1 + g % 3],"
        f" format(({BODIES})[1 + g % 6], g), 'node-' || (g % 4)"
        f" from generate_series({first_id}, {last_id}) as g; select 1",
    )


def _use_table(url: str, project: Path, table: str, *options: str) -> tuple[int, str]:
    done = run_module(
        url, "dbt_project", "use-table", "--schema", "app", "--table", table,
        "--project-dir", str(project), *options,
    )  # fmt: skip
    return done.returncode, done.stdout + done.stderr


def _dbt_fails(project: Path, url: str) -> str:
    run = start_dbt(project, url, "build")
    output, _ = run.communicate(timeout=900)
    assert run.returncode != 0, output[-4000:]
    return output


def test_a_table_of_your_own_over_its_life(
    make_database: Callable[[str], str], tmp_path: Path
) -> None:
    url, project = make_database("your_table"), project_copy(tmp_path / "project")
    _events(url, "events", ROWS)
    fetch_all(url, "create view app.events_v as select * from app.events; select 1")

    code, said = _use_table(url, project, "events_v", "--map", MAP)
    assert code == 0, said
    assert "LOUD" in said and "sev3" in said  # levels it cannot place, named before any build
    code, said = _use_table(
        url, project, "events_v", "--map", MAP, "--levels", "LOUD=ERROR,sev3=WARN"
    )
    assert code == 0, said
    assert "log_source" in (project / "dbt_project.yml").read_text(encoding="utf-8")
    check = run_module(url, "dbt_project", "check-source", "--project-dir", str(project))
    assert check.returncode == 0 and "events_v" in check.stdout, check.stdout + check.stderr

    export(url, project)
    dbt(project, url, "build")
    first = "app.events_v.event_id"
    assert fetch_all(
        url, "select count(*), min(log_source), max(log_source) from ml.ml_predictions"
    ) == [(ROWS, first, first)]
    levels = fetch_all(
        url,
        "select raw_level, min(level), max(level) from ml.stg_log_entries"
        " where raw_level in ('LOUD', 'sev3', 'warning') group by 1 order by 1",
    )
    assert levels == [
        ("LOUD", "ERROR", "ERROR"),
        ("sev3", "WARN", "WARN"),
        ("warning", "WARN", "WARN"),
    ]

    # a prune of the oldest day: the outputs keep what the source keeps
    fetch_all(url, "delete from app.events where ts < timestamptz '2026-11-21 00:00+00'; select 1")
    kept = scalar(url, "select count(*) from app.events")
    assert 0 < kept < ROWS
    dbt(project, url, "build")
    assert scalar(url, "select count(*) from ml.ml_predictions") == kept
    assert scalar(url, "select sum(predictions) from ml.ml_stats_hourly") == kept
    history = "select sum(lines) from ml.ml_detector_{} where model_version = 'v1'"
    assert scalar(url, history.format("template_history")) == kept
    assert scalar(url, history.format("service_history")) == kept

    # a switch to another table, ids 1.. again: nothing is scored until a version is trained on it
    _events(url, "events2", 1_500)
    code, said = _use_table(
        url, project, "events2", "--map", MAP, "--levels", "LOUD=ERROR,sev3=WARN"
    )
    assert code == 0, said
    stopped = _dbt_fails(project, url)
    assert "was trained on the log source app.events_v.event_id" in stopped
    assert "app.events2.event_id" in stopped and "make export-model" in stopped
    assert scalar(url, "select count(*) from ml.ml_predictions") == kept  # nothing mixed in
    export(url, project)
    dbt(project, url, "build")
    by_source = fetch_all(
        url,
        "select log_source, count(*), min(log_entry_id) from ml.ml_predictions"
        " group by 1 order by 1",
    )
    assert by_source == [("app.events2.event_id", 1_500, 1), (first, kept, ROWS - kept + 1)]


@pytest.mark.parametrize(
    ("logml", "expression", "data_type"),
    [("id", "event_id::text", "text"), ("timestamp", "ts::text", "text"),
     ("http_status", "'200'::text", "text"), ("is_anomaly", "1", "integer")],
)  # fmt: skip
def test_a_bad_column_is_named_and_nothing_is_recorded(
    make_database: Callable[[str], str], tmp_path: Path, logml: str, expression: str,
    data_type: str,
) -> None:  # fmt: skip
    url, project = make_database(f"bad_{logml}"), project_copy(tmp_path / "project")
    _events(url, "events", 100)
    fetch_all(
        url, f"create view app.bad as select {expression} as bad, * from app.events; select 1"
    )
    mapping = [pair for pair in MAP.split(",") if not pair.startswith(f"{logml}=")]
    before = (project / "dbt_project.yml").read_text(encoding="utf-8")
    code, said = _use_table(url, project, "bad", "--map", ",".join([*mapping, f"{logml}=bad"]))
    assert code == 1, said
    assert f"column bad (logml's {logml}) is {data_type}" in said, said
    assert "nothing recorded" in said
    assert (project / "dbt_project.yml").read_text(encoding="utf-8") == before
    if logml == "id":  # app.bad is a view: the fix names the table under it, never the view
        assert "alter table the table under the view" in said and "app.bad add" not in said
