"""Fixtures of the integration and end-to-end tiers: a real PostgreSQL (the embedded one unless
DATABASE_URL is set), each test module in a database of its own so modules cannot see each
other's rows, and a private copy of the dbt project. Unit tests use none of them.

A module that needs the pipeline built (logs loaded, v1 trained and exported, dbt build) takes
`built`, or `challenged` for v1 active and v2 the challenger: a clone of a pipeline built once
per run (harness/prepared.py), with a project copy of its own, so building costs the run one
build instead of one per module. A module whose test depends on how its own logs were loaded or
trained builds them itself in `module_db` and `dbt_project_copy`."""

from __future__ import annotations

import gc
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from dbt_project.database import database_url
from dbt_project.scratch import create_database, drop_database
from dev.api_server import client as api_client
from dev.db import records
from dev.pipeline import LOGHUB, add_challenger, build, project_copy
from tests.python.harness.prepared import (
    BUILT_ROWS,
    BUILT_SEED,
    Prepared,
    clone,
    drop_prepared,
    prepare_once,
    run_lock,
)


def pytest_configure(config: pytest.Config) -> None:
    """A test process runs dbt in process about a hundred times, and dbt makes objects by the
    hundred thousand: with Python's default thresholds (700, 10, 10) the cyclic collector took
    1.2 s of an 8.7 s build, 0.6 s with a young generation of 20,000 (measured: median of 4
    alternating builds of a 3,000-log project)."""
    gc.set_threshold(20_000, 10, 10)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """The process that started the run (not an xdist worker) drops the prepared databases."""
    if not hasattr(session.config, "workerinput"):
        drop_prepared(session.config._tmp_path_factory, database_url)  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """URL of the server under test (embedded, started on demand, or DATABASE_URL). One
    process of the run at a time starts it (a fresh clone has no database yet)."""
    with run_lock(tmp_path_factory, "server"):
        return database_url()


def _module_label(request: pytest.FixtureRequest) -> str:
    return request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")[:20]


@pytest.fixture(scope="module")
def make_database(server_url: str) -> Iterator[Callable[[str], str]]:
    """Factory: a new empty database on the server, dropped after the module."""
    created: list[str] = []

    def make(label: str = "t") -> str:
        name = f"test_{label}_{uuid.uuid4().hex[:8]}"
        created.append(name)
        return create_database(server_url, name)

    yield make
    for name in created:
        drop_database(server_url, name)


@pytest.fixture(scope="module")
def module_db(make_database: Callable[[str], str], request: pytest.FixtureRequest) -> str:
    """One fresh database for the whole test module."""
    return make_database(_module_label(request))


@pytest.fixture(scope="module")
def dbt_project_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the dbt project for this module (pass it as project_dir), without
    the repository's export: the module's database gets models trained on its own logs."""
    return project_copy(tmp_path_factory.mktemp("dbt_project"))


@pytest.fixture(scope="session")
def built_once(server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Prepared:
    """The pipeline built once per run: never handed to a test (see `built`)."""
    return prepare_once(
        "built",
        server_url,
        tmp_path_factory,
        lambda url, project: build(url, project, BUILT_ROWS, BUILT_SEED),
    )


@pytest.fixture(scope="session")
def challenged_once(
    server_url: str, tmp_path_factory: pytest.TempPathFactory, built_once: Prepared
) -> Prepared:
    """`built_once` plus v2 as the challenger, scoring newer logs beside v1 (never handed to
    a test: see `challenged`)."""
    return prepare_once("challenged", server_url, tmp_path_factory, add_challenger, built_once)


@pytest.fixture(scope="module")
def clone_prepared(
    server_url: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Callable[[Prepared], Prepared]]:
    """Factory: a clone of a prepared pipeline for this module, dropped after it."""
    created: list[str] = []

    def make(prepared: Prepared) -> Prepared:
        name = f"test_{_module_label(request)}_{uuid.uuid4().hex[:8]}"
        created.append(name)
        return clone(prepared, server_url, name, tmp_path_factory.mktemp("dbt_project") / "p")

    yield make
    for name in created:
        drop_database(server_url, name)


@pytest.fixture(scope="module")
def built(built_once: Prepared, clone_prepared: Callable[[Prepared], Prepared]) -> Prepared:
    """This module's clone of the pipeline built once: BUILT_ROWS generated logs (seed
    BUILT_SEED) loaded, v1 trained on them and active, dbt build done."""
    return clone_prepared(built_once)


@pytest.fixture(scope="module")
def challenged(
    challenged_once: Prepared, clone_prepared: Callable[[Prepared], Prepared]
) -> Prepared:
    """This module's clone of `built` plus v2, the challenger (trained on 300 lines), and
    1,500 newer logs (dev.pipeline.CHALLENGER_LOGS_END) scored by both versions."""
    return clone_prepared(challenged_once)


@pytest.fixture(scope="session")
def loghub_dir() -> Path:
    if not LOGHUB.is_dir():
        pytest.fail(f"loghub samples not found at {LOGHUB} (set LOGHUB_DIR)")
    return LOGHUB


# A module that reads a pipeline's results through the API names that pipeline's database URL
# `pipeline`, and takes these.
@pytest.fixture(scope="module")
def client(pipeline: str) -> Iterator[TestClient]:
    """The API through FastAPI's test client, over the module's `pipeline`."""
    with api_client(pipeline) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def status_row(pipeline: str) -> dict[str, Any]:
    """The one row of ml_status in the module's `pipeline`."""
    (row,) = records(pipeline, "select * from ml.ml_status")
    return row
