"""The API under concurrent load (loopback, bounded) while `dbt build` scores a new batch and
rebuilds the stats and status tables: no 5xx, no dropped connection, p99 within a bound, and
afterwards every eligible log has exactly one prediction. The figures at full size come from
`python -m bench.api_under_dbt_run` (same load: dev/api_load.py)."""

from __future__ import annotations

from typing import Any

import pytest

from dbt_project.settings import Settings
from dev.api_load import LoadResult, hammer_during
from dev.api_server import start_api
from dev.db import with_user
from dev.pipeline import Coverage, coverage, load_generated, start_dbt
from tests.python.harness.prepared import Prepared

DEFAULT_CACHE_SECONDS = Settings.model_fields["api_cache_seconds"].default

pytestmark = pytest.mark.slow

BATCH = 8000
# Generous for a 2-core machine that also runs dbt and PostgreSQL during the measurement
# (unloaded, these endpoints answer in a few ms: bench/results/api_latency.json).
P99_BOUND_MS = 2000


@pytest.fixture(scope="module")
def loaded(built: Prepared) -> dict[str, Any]:
    """One measured run: 8 clients until the dbt build that scores BATCH new logs ends."""
    url, project = built.url, built.project
    load_generated(url, BATCH, seed=72)
    before = coverage(url)
    # the shipped configuration, response cache included
    api = start_api(with_user(url, "logml_api"), {"API_CACHE_SECONDS": str(DEFAULT_CACHE_SECONDS)})
    try:
        result = hammer_during(
            int(api.base.rsplit(":", 1)[1]),
            lambda: start_dbt(project, url, "build"),
            clients=8,
            max_requests=20_000,  # bounds; the clients stop when dbt ends
            seconds=90,
        )
    finally:
        api.stop()
    after = coverage(url)
    print(f"\n[load] {result}\n[load] {after}")
    return {"result": result, "before": before, "after": after}


def test_dbt_build_under_api_load_loses_nothing(loaded: dict[str, Any]) -> None:
    result: LoadResult = loaded["result"]
    before: Coverage = loaded["before"]
    after: Coverage = loaded["after"]
    assert result.dbt_exit_code == 0
    assert after.exact, after
    assert after.predictions == before.predictions + BATCH


def test_api_latency_under_a_dbt_build_stays_bounded(loaded: dict[str, Any]) -> None:
    result: LoadResult = loaded["result"]
    assert result.during_dbt >= 100, "the requests must overlap the dbt build"
    assert result.connection_errors == 0, result.examples
    assert result.p99_ms <= P99_BOUND_MS


def test_api_answers_no_5xx_during_a_dbt_build(loaded: dict[str, Any]) -> None:
    result: LoadResult = loaded["result"]
    assert result.server_errors == 0, (result.statuses, result.examples)
    assert result.said_not_initialized == 0, (result.statuses, result.examples)
