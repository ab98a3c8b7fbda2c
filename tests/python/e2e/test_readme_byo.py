"""The README's "Bring your own model", followed as written, in a copy of the repository: after
`make pipeline` (here the pipeline built once per run, its generated files and artifacts in
the copy), its Python trains and saves a Pipeline, its make commands export and register it,
its dbt model goes where the model's first line says, `make run` fills the table and `make
verify` says EXACT. Then new logs arrive and the next scheduled `make run` scores exactly
those. The docs page shows the same example model."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dbt_project.database import PROJECT_ROOT
from dev.db import fetch_all, scalar
from dev.pipeline import CHALLENGER_LOGS_END, load_generated, repository_copy
from model_export.compiler.names import MACRO_DIR, SEED_DIR
from tests.python.harness.prepared import Prepared
from tests.python.harness.readme import blocks, commands

pytestmark = pytest.mark.slow

SECTION = "Bring your own model"
TABLE = "ml.service_predictions"


@pytest.fixture(scope="module")
def clone(built: Prepared, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This repository's files with the built pipeline's versions and artifacts: the state
    `make pipeline` leaves on the built database. `.venv` is this run's virtualenv."""
    target = repository_copy(tmp_path_factory.mktemp("readme"))
    for generated in (MACRO_DIR, SEED_DIR, Path("artifacts")):
        shutil.rmtree(target / generated, ignore_errors=True)
        shutil.copytree(built.project / generated, target / generated)
    (target / ".venv").symlink_to(sys.prefix)
    return target


# make's variables for a sub-make: under `make test`, the README's `make ...` would print
# "Entering/Leaving directory" lines that a user's shell does not
SUB_MAKE = ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")


def run(clone: Path, url: str, command: str) -> str:
    """`command` as a user's shell runs it, on the built database."""
    shell = {key: value for key, value in os.environ.items() if key not in SUB_MAKE}
    done = subprocess.run(
        command, shell=True, cwd=clone, env={**shell, "DATABASE_URL": url},
        capture_output=True, text=True, timeout=1800, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"{command}:\n{(done.stdout + done.stderr)[-4000:]}"
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def followed(built: Prepared, clone: Path) -> list[str]:
    """Every block of the section in order: files written, commands run; their outputs."""
    outputs = []
    for block in blocks(SECTION):
        if block.file is not None:
            (clone / block.file).parent.mkdir(parents=True, exist_ok=True)
            (clone / block.file).write_text(block.text)
        elif block.language == "sh":
            outputs += [run(clone, built.url, command) for command in commands(block)]
    return outputs


def test_the_readme_takes_a_joblib_file_to_a_verified_scheduled_version(
    built: Prepared, followed: list[str]
) -> None:
    assert [b.language for b in blocks(SECTION)] == ["python", "sh", "sql", "sh"]
    assert followed[-1].splitlines()[-1] == "EXACT"
    assert fetch_all(
        built.url,
        "select model_version, is_active from ml.ml_model_registry where model_kind = 'byo'",
    ) == [("service_v1", True)]
    logs = scalar(built.url, "select count(*) from ml.stg_log_entries")
    assert scalar(built.url, f"select count(*) from {TABLE} where model_version = 'service_v1'")
    assert scalar(built.url, f"select count(distinct log_entry_id) from {TABLE}") == logs


def test_the_next_scheduled_run_scores_the_new_logs_once(
    built: Prepared, clone: Path, followed: list[str]
) -> None:
    before = scalar(built.url, f"select count(*) from {TABLE}")
    load_generated(built.url, 200, seed=13, end=CHALLENGER_LOGS_END, days=1)
    (schedule,) = [c for b in blocks(SECTION) for c in commands(b) if c.startswith("make run")]
    run(clone, built.url, schedule)
    assert scalar(built.url, f"select count(*) from {TABLE}") == before + 200
    assert scalar(built.url, "select count(*) from ml.stg_log_entries") == before + 200


def test_the_docs_page_shows_the_same_example() -> None:
    page = (PROJECT_ROOT / "docs" / "bring-your-own-model.md").read_text(encoding="utf-8")
    for block in blocks(SECTION):
        if block.language in ("sql", "python"):
            assert block.text in page
