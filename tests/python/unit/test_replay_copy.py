"""The replay's working copy holds the dbt project as dbt_project.yml names it and the trained
versions' artifacts, so an export into it adds the next version beside the shipped ones."""

from __future__ import annotations

from pathlib import Path

from dbt_project.database import PROJECT_ROOT
from model_export.evaluation.replay import working_copy


def test_the_copy_holds_the_project_and_the_artifacts(tmp_path: Path) -> None:
    copy = working_copy(tmp_path / "project")
    for part in ("dbt_project.yml", "models", "macros", "seeds", "analyses", "tests/dbt"):
        assert (copy / part).exists(), part
    shipped = sorted(p.name for p in (PROJECT_ROOT / "artifacts").iterdir() if p.is_dir())
    assert shipped and sorted(p.name for p in (copy / "artifacts").iterdir()) == shipped
    models = {p.relative_to(PROJECT_ROOT) for p in (PROJECT_ROOT / "models").rglob("*.sql")}
    assert {p.relative_to(copy) for p in (copy / "models").rglob("*.sql")} == models
    assert not (copy / "target").exists() and not (copy / "model_export").exists()
