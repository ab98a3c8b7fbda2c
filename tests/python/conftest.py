"""Fixtures of the integration and end-to-end tiers: a real PostgreSQL (the embedded one unless
DATABASE_URL is set), each test module in a database of its own so modules cannot see each
other's rows, and a private copy of the dbt project. Unit tests use none of them."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dbt_project.database import database_url
from dbt_project.scratch import create_database, drop_database
from dev.pipeline import LOGHUB, project_copy


@pytest.fixture(scope="session")
def server_url() -> str:
    """URL of the server under test (embedded, started on demand, or DATABASE_URL)."""
    return database_url()


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
    return make_database(request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")[:20])


@pytest.fixture(scope="module")
def dbt_project_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the dbt project for this module (pass it as project_dir), without
    the repository's export: the module's database gets models trained on its own logs."""
    return project_copy(tmp_path_factory.mktemp("dbt_project"))


@pytest.fixture(scope="session")
def loghub_dir() -> Path:
    if not LOGHUB.is_dir():
        pytest.fail(f"loghub samples not found at {LOGHUB} (set LOGHUB_DIR)")
    return LOGHUB
