"""Expensive setups made once per test run, handed to each test module as a clone: a database
(CREATE DATABASE ... TEMPLATE, which copies it in one statement) and a copy of the dbt project
it was built with. The first process that asks builds it while holding a lock; the other
pytest-xdist workers wait for it and reuse it. Nobody may connect to the original after that (it
refuses connections), so no test can write into it or see another module's writes. The process
that started the run drops the originals at its end (drop_prepared)."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from psycopg import sql

from dbt_project.database import connect
from dbt_project.scratch import clone_database, create_database, drop_database, in_database
from dev.pipeline import project_copy

# The pipeline every `built` module starts from (tests/python/conftest.py): generated logs
# over the week before dev.pipeline.END.
BUILT_ROWS = 3000
BUILT_SEED = 7


@dataclass(frozen=True)
class Prepared:
    """A database and the copy of the dbt project it was built with (pass it as project_dir)."""

    database: str
    url: str
    project: Path


def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder every process of this run shares: a worker's temporary folder is inside the
    one of the process that started the run."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@contextmanager
def run_lock(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[None]:
    """An exclusive lock among the processes of this run."""
    with (run_dir(tmp_path_factory) / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def prepare_once(
    name: str,
    server_url: str,
    tmp_path_factory: pytest.TempPathFactory,
    setup: Callable[[str, Path], object],
    start: Prepared | None = None,
) -> Prepared:
    """The prepared database `name` of this run: made by `setup(url, project)` in an empty
    database and a project copy without compiled versions, or in a clone of `start`."""
    folder = run_dir(tmp_path_factory) / "prepared"
    folder.mkdir(exist_ok=True)
    record = folder / f"{name}.json"
    with run_lock(tmp_path_factory, f"prepared-{name}"):
        if not record.is_file():
            database = f"prepared_{name}_{uuid.uuid4().hex[:8]}"
            project = folder / name
            if start is None:
                url = create_database(server_url, database)
                project_copy(project)
            else:
                url = clone(start, server_url, database, project).url
            # written first: the database is dropped at the end even if setup fails
            record.write_text(json.dumps({"database": database, "project": str(project)}))
            setup(url, project)
            with connect(server_url) as conn, conn.cursor() as cur:
                cur.execute(
                    sql.SQL("alter database {} allow_connections false").format(
                        sql.Identifier(database)
                    )
                )
            (folder / f"{name}.ready").touch()
    if not (folder / f"{name}.ready").is_file():
        pytest.fail(f"preparing {name} failed in another worker (see its error)")
    found = json.loads(record.read_text())
    database = found["database"]
    return Prepared(database, in_database(server_url, database), Path(found["project"]))


def clone(prepared: Prepared, server_url: str, database: str, project: Path) -> Prepared:
    """A clone of `prepared`: the database as `database`, the project copied to `project`
    with dbt's saved parse (target/partial_parse.msgpack) and no other build product, so its
    first dbt command re-reads only the files that changed (0.5 s, where parsing the project
    afresh takes 4 s)."""
    url = clone_database(server_url, prepared.database, database)
    shutil.copytree(prepared.project, project, ignore=_build_products(prepared.project))
    return Prepared(database, url, project)


def _build_products(project: Path) -> Callable[[str, list[str]], set[str]]:
    """copytree's filter: dbt's logs/ at the top of the project (models/staging/logs/ is a
    model folder), and all of target/ but the saved parse."""

    def ignored(folder: str, names: list[str]) -> set[str]:
        if Path(folder) == project:
            return {"logs"} & set(names)
        if Path(folder) == project / "target":
            return set(names) - {"partial_parse.msgpack"}
        return set()

    return ignored


def drop_prepared(tmp_path_factory: pytest.TempPathFactory, server_url: Callable[[], str]) -> None:
    """Drop every prepared database of this run (the run's last step)."""
    records = sorted((run_dir(tmp_path_factory) / "prepared").glob("*.json"))
    for record in records:
        drop_database(server_url(), json.loads(record.read_text())["database"])
