"""DATABASE_URL switches everything: a second PostgreSQL gets the rows, the default does not."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from dbt_project.database import PROJECT_ROOT, connect
from dev.db import own_server, stop_server
from dev.pipeline import repository_copy, run_module

MARKER_SEED = 918273  # log_ids gen-918273-* exist only where this test loads them


@pytest.fixture
def second_server() -> Iterator[str]:
    with own_server() as (url, data_dir):
        yield url
        stop_server(data_dir)  # fails the test if the second server was not running any more


def _marker_rows(url: str) -> int | None:
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute("select to_regclass('public.log_entries') is not null")
        if not cur.fetchone()[0]:
            return None
        cur.execute(
            "select count(*) from log_entries where log_id like %s", (f"gen-{MARKER_SEED}-%",)
        )
        return cur.fetchone()[0]


def test_database_url_points_the_loader_at_another_server(
    second_server: str, server_url: str
) -> None:
    default_before = _marker_rows(server_url)
    assert run_module(second_server, "ingest", "create-source").returncode == 0
    result = run_module(
        second_server,
        "ingest",
        "generate",
        "--rows",
        "2000",
        "--seed",
        str(MARKER_SEED),
    )
    assert result.returncode == 0, result.stderr

    assert _marker_rows(second_server) == 2000
    assert _marker_rows(server_url) == default_before  # untouched: None or 0, never 2000
    assert default_before in (None, 0)
    # It really is another server: another data directory.
    with connect(second_server) as conn, conn.cursor() as cur:
        cur.execute("show data_directory")
        assert cur.fetchone()[0] != str((PROJECT_ROOT / ".pgdata").resolve())


def test_make_pipeline_runs_on_the_database_url_server(
    second_server: str, server_url: str, tmp_path: Path
) -> None:
    default_before = _marker_rows(server_url)
    # a fresh clone's files: its own generated files and artifacts, the repository's untouched
    copy = repository_copy(tmp_path / "repository")
    venv = Path(sys.executable).parent.parent
    result = subprocess.run(
        ["make", "--no-print-directory", "pipeline", "ROWS=3000", f"SEED={MARKER_SEED}",
         f"VENV={venv}"],
        cwd=copy,
        env={**os.environ, "DATABASE_URL": second_server},
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    assert _marker_rows(second_server) == 3000
    with connect(second_server) as conn, conn.cursor() as cur:
        cur.execute("select count(*), count(distinct log_entry_id) from ml.ml_predictions")
        assert cur.fetchone() == (3000, 3000)
        cur.execute("select total_predictions from ml.ml_status")
        assert cur.fetchone() == (3000,)
    assert _marker_rows(server_url) == default_before
    # these are not the demo logs, so a model is trained on them: v2 (v1 is the shipped demo's)
    assert "ml.ml_predictions [v2, public.log_entries.id]: 3,000 scored" in result.stdout
