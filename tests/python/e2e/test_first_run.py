"""The first run, as a newcomer makes it: the repository's files in a fresh clone, the README's
`make pipeline` on a fresh PostgreSQL whose autovacuum is off (nothing gets analysed behind the
pipeline's back, as on a fresh database where autovacuum has not caught up yet), and then the
clone is still clean and `make check-generated` passes in it.

A pipeline that leaves planner statistics to autovacuum hangs here: on a fresh database the
exactly-once test planned a 200,000 x 200,000 join without them (about an hour). The bound below
is a hang guard, far above the minute or two the run takes, never a speed target (those live in
bench/)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dev.db import own_server, records, scalar
from dev.pipeline import repository_copy

pytestmark = pytest.mark.slow

HANG_GUARD_SECONDS = 900
GIT = ("git", "-c", "user.email=test@logml.invalid", "-c", "user.name=first-run test")


def _git(clone: Path, *args: str) -> str:
    done = subprocess.run([*GIT, *args], cwd=clone, capture_output=True, text=True, check=True)
    return done.stdout


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository as a fresh clone holds it (dev.pipeline.repository_copy), committed
    in a git repository of its own."""
    target = repository_copy(tmp_path_factory.mktemp("clone"))
    _git(target, "init", "--quiet")
    _git(target, "add", "--all")
    _git(target, "commit", "--quiet", "--message", "fresh clone")
    return target


def _make(clone: Path, url: str, target: str) -> subprocess.CompletedProcess[str]:
    """`make <target>` in the clone against `url`, with this environment's virtualenv."""
    venv = Path(sys.prefix)  # the virtualenv running the tests
    return subprocess.run(
        ["make", "--no-print-directory", target, f"VENV={venv}"],
        cwd=clone,
        env={**os.environ, "DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_SECONDS,
    )


@pytest.fixture(scope="module")
def first_run(clone: Path) -> Iterator[tuple[str, subprocess.CompletedProcess[str], float]]:
    with own_server({"autovacuum": "off"}) as (url, _):
        assert scalar(url, "show autovacuum") == "off"
        started = time.monotonic()
        done = _make(clone, url, "pipeline")
        elapsed = time.monotonic() - started
        print(f"\n[first run] make pipeline on a fresh server, autovacuum off: {elapsed:.0f} s")
        yield url, done, elapsed


def test_make_pipeline_succeeds_on_a_fresh_database_without_autovacuum(
    first_run: tuple[str, subprocess.CompletedProcess[str], float],
) -> None:
    url, done, _ = first_run
    assert done.returncode == 0, (done.stdout + done.stderr)[-6000:]
    # the shipped demo model, registered as it is (trained on exactly these logs)
    assert "v1 registered as active: it was trained on exactly these logs" in done.stdout
    logs = scalar(url, "select count(*) from public.log_entries")
    assert logs == 200_000
    assert scalar(url, "select count(*) from ml.ml_predictions where model_version = 'v1'") == logs


def test_the_first_look_shows_the_incidents_of_the_last_days(
    first_run: tuple[str, subprocess.CompletedProcess[str], float],
) -> None:
    """make pipeline judges the newest days (FIRST_LOOK_HOURS), so the dashboard opens on the
    demo week's latest incidents; each is about lines the generator labelled anomalous on its
    service (labels the product never reads)."""
    url, done, _ = first_run
    assert done.returncode == 0
    incidents = records(
        url,
        """
        select i.service, i.started_at,
               (select count(*) from public.log_entries e
                where e.service = i.service and e.is_anomaly
                  and e."timestamp" between i.started_at and i.last_seen_at) as labelled
        from ml.ml_incidents i
        """,
    )
    assert incidents, done.stdout[-3000:]
    assert [i for i in incidents if i["labelled"] == 0] == []
    assert f"ml.ml_incidents [v1]: {len(incidents)} incidents" in done.stdout


def test_the_clone_stays_clean(
    clone: Path, first_run: tuple[str, subprocess.CompletedProcess[str], float]
) -> None:
    assert first_run[1].returncode == 0
    assert _git(clone, "status", "--porcelain", "--untracked-files=all") == ""


def test_check_generated_passes_on_the_fresh_clone(
    clone: Path, first_run: tuple[str, subprocess.CompletedProcess[str], float]
) -> None:
    done = _make(clone, first_run[0], "check-generated")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "generated files match their artifacts" in done.stdout
