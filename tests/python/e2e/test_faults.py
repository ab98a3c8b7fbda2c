"""Faults during scoring, each on a PostgreSQL of this module's own (the shared embedded server
is never stopped): the dbt process SIGKILLed, the server stopped (fast) or crashed (immediate)
while ml_predictions is writing its batch, two `dbt build`s at once, and the server gone while
the API serves. After each: the interrupted batch is not visible at all, the next run completes,
and the counts show every eligible log with exactly one prediction of the active version.

The fault lands at a known point, not by timing luck: this test holds a SHARE lock on
ml_predictions, which lets dbt compute the whole batch (its CREATE TEMP TABLE ... AS SELECT only
reads the table) but blocks its INSERT; the fault strikes while pg_stat_activity shows that
INSERT waiting, i.e. with the full batch computed and nothing committed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from dev.api_server import get, start_api
from dev.db import (
    own_server,
    scalar,
    start_server,
    stop_server,
    wait_for,
    with_user,
)
from dev.pipeline import (
    build,
    coverage,
    dbt,
    load_generated,
    rows_scored,
    start_dbt,
)

pytestmark = pytest.mark.slow

BASE_ROWS = 2000
BATCH_ROWS = 3000  # logs appended before each interrupted run

WAITING_INSERT = """
select pid, substring(query from 'insert into [^ ]+') from pg_stat_activity
where wait_event_type = 'Lock' and query ilike '%insert into%ml_predictions%'
  and pid <> pg_backend_pid()
"""


@pytest.fixture(scope="module")
def own() -> Iterator[tuple[str, Path]]:
    with own_server() as (url, data_dir):
        yield url, data_dir


@pytest.fixture(scope="module")
def server(own: tuple[str, Path]) -> str:
    return own[0]


@pytest.fixture(scope="module")
def data_dir(own: tuple[str, Path]) -> Path:
    return own[1]


@pytest.fixture(scope="module")
def built(server: str, dbt_project_copy: Path) -> tuple[str, Path]:
    build(server, dbt_project_copy, BASE_ROWS, seed=21)
    assert coverage(server).exact
    return server, dbt_project_copy


def _kill_dbt(run: subprocess.Popen[str], _data_dir: Path) -> None:
    os.killpg(run.pid, signal.SIGKILL)


def _stop_fast(_run: subprocess.Popen[str], data_dir: Path) -> None:
    stop_server(data_dir)  # pg_ctl -m fast: backends terminated, open transactions rolled back


def _crash(_run: subprocess.Popen[str], data_dir: Path) -> None:
    """pg_ctl -m immediate: no shutdown checkpoint; the restart replays the WAL (crash
    recovery), as after a power cut."""
    from pgserver import _commands

    user = "pgserver" if os.geteuid() == 0 else None
    _commands.pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=data_dir, user=user)  # type: ignore[attr-defined]


FAULTS: dict[str, Callable[[subprocess.Popen[str], Path], None]] = {
    "dbt SIGKILL": _kill_dbt,
    "server stop (fast)": _stop_fast,
    "server crash (immediate)": _crash,
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_fault_while_the_batch_is_written_loses_and_duplicates_nothing(
    built: tuple[str, Path], data_dir: Path, fault: str
) -> None:
    url, project = built
    load_generated(url, BATCH_ROWS, seed=30 + list(FAULTS).index(fault))
    before = coverage(url)
    assert before.unscored_logs == BATCH_ROWS

    holder = psycopg.connect(url)  # a transaction that holds the lock until it ends
    holder.cursor().execute("lock table ml.ml_predictions in share mode")
    run = start_dbt(project, url, "build")
    try:
        # autocommit: pg_stat_activity is a snapshot per transaction
        watcher = psycopg.connect(url, autocommit=True)

        def waiting_insert() -> tuple[int, str] | None:
            with watcher.cursor() as cur:
                cur.execute(WAITING_INSERT)
                return cur.fetchone()

        try:
            pid, statement = wait_for(waiting_insert, 120, "dbt's INSERT into ml_predictions")
        finally:
            watcher.close()
        FAULTS[fault](run, data_dir)
    except BaseException:
        os.killpg(run.pid, signal.SIGKILL)  # never leave a dbt run behind a failed test
        raise
    finally:
        if fault == "dbt SIGKILL":
            # The orphaned backend now runs its INSERT, then finds its client gone and rolls
            # back: the rows were written and still must never become visible.
            holder.rollback()
        holder.close()
    output, _ = run.communicate(timeout=120)
    assert run.returncode != 0, f"the run should have failed:\n{output[-2000:]}"

    if fault != "dbt SIGKILL":
        start_server(data_dir)
    wait_for(
        lambda: scalar(url, "select count(*) = 0 from pg_stat_activity where pid = %s", (pid,)),
        60,
        "the interrupted backend to end",
    )
    after_fault = coverage(url)
    dbt(project, url, "build")
    after_rerun = coverage(url)
    print(
        f"\n[{fault}] struck at: {statement!r}; predictions {before.predictions} before,"
        f" {after_fault.predictions} after the fault, {after_rerun.predictions} after the rerun"
        f" (stg {after_rerun.eligible_logs}, distinct {after_rerun.distinct_logs})"
    )
    assert after_fault.predictions == before.predictions, "a partial batch became visible"
    assert after_fault.unscored_logs == BATCH_ROWS
    assert after_rerun.exact, after_rerun
    assert after_rerun.predictions == before.predictions + BATCH_ROWS


def test_two_builds_at_once_score_each_log_once(built: tuple[str, Path]) -> None:
    """Two `python -m dbt_project dbt build` at once (a manual build beside the scheduled
    one): the runner serialises writing dbt commands on an advisory lock, so the second waits
    and both succeed; the batch is scored once, by whichever run gets it first."""
    url, project = built
    load_generated(url, BATCH_ROWS, seed=40)
    before = coverage(url)
    runs = [
        start_dbt(project, url, "build", target=target, runner=True)
        for target in ("target_a", "target_b")
    ]
    outputs = [run.communicate(timeout=300)[0] for run in runs]
    codes = [run.returncode for run in runs]
    scored = sorted(rows_scored(project, t) for t in ("target_a", "target_b"))
    after = coverage(url)
    print(f"\n[two builds] exit codes {codes}, rows scored by each {scored}; {after}")
    assert codes == [0, 0], outputs
    assert scored == [0, BATCH_ROWS]
    assert after.exact, after
    assert after.predictions == before.predictions + BATCH_ROWS


def test_api_reports_offline_and_recovers_without_a_restart(
    built: tuple[str, Path], data_dir: Path
) -> None:
    url, _ = built
    total = coverage(url).predictions
    api = start_api(with_user(url, "logml_api"), {"API_POOL_TIMEOUT": "1"})
    base = api.base
    status = "/api/ml_lightweight?action=status"
    try:
        code, body, _ = get(base, status)
        assert code == 200 and json.loads(body)["total_predictions"] == total

        stop_server(data_dir)
        code, body, _ = get(base, status)
        assert code == 503 and json.loads(body)["ml_system"] == "offline", body
        assert get(base, "/api/v1/predictions")[0] == 503

        start_server(data_dir)
        restarted = time.monotonic()
        wait_for(lambda: get(base, status)[0] == 200, 30, "the API to reconnect", 0.1)
        recovery = time.monotonic() - restarted
        code, body, _ = get(base, status)
        answer = json.loads(body)
        assert answer["ml_system"] == "active" and answer["total_predictions"] == total
        assert get(base, "/api/v1/predictions?limit=5")[0] == 200
        assert api.process.poll() is None, "the same API process answered throughout"
        print(f"\n[API offline] answered 503 offline; back {recovery:.2f} s after the restart")
    finally:
        api.stop()
    assert coverage(url).exact
