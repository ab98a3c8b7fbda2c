"""A copy of the dbt project in a folder of its own: dbt-project-evaluator installs packages in
one, and the tests and benchmarks build in theirs, so nothing they do touches the repository's
files or its target/."""

from __future__ import annotations

import shutil
from pathlib import Path

from dbt_project.database import PROJECT_ROOT

# What a copy of the dbt project is made of (the rest of the repository is Python).
PROJECT_PARTS = (
    "dbt_project.yml", "selectors.yml", "profiles.example.yml", "models", "macros", "seeds",
    "analyses", "tests/dbt",
)  # fmt: skip


def copy_project(target: Path) -> Path:
    """The dbt project's files copied into `target` (created if needed); `target`."""
    target.mkdir(parents=True, exist_ok=True)
    for part in PROJECT_PARTS:
        source = PROJECT_ROOT / part
        if source.is_dir():
            shutil.copytree(source, target / part)
        else:
            (target / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target / part)
    return target
