"""`python -m dbt_project evaluate-project`: dbt Labs' dbt-project-evaluator on this project,
offline, without touching it. The packages (tarballs of dbt_project_evaluator and dbt_utils,
e.g. ../shared/vendor/dbt-packages) are installed in a temporary copy of the project, with
the evaluator's exceptions and vars from dev/project_evaluator/ merged in, and built in a
scratch database that is dropped afterwards. Prints each rule that warns with its offending
rows; exits 1 when any rule warns or fails, so the check can gate a merge."""

from __future__ import annotations

import json
import os
import shutil
import tarfile
import tempfile
import uuid
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

from dbt_project.database import PROJECT_ROOT
from dbt_project.dbt_runner import run_dbt
from dbt_project.errors import DbtError, InputError
from dbt_project.project_copy import copy_project
from dbt_project.scratch import scratch_database

EVALUATOR = "dbt_project_evaluator"
# The evaluator's configuration for this project: its exceptions seed (each row with its
# reason) and project settings (vars, the package seed it replaces) merged into the copy.
DEV_CONFIG = PROJECT_ROOT / "dev" / "project_evaluator"


def _extract(tarball: Path, into: Path) -> Path:
    """Extract a package tarball; returns the folder holding its dbt_project.yml."""
    with tarfile.open(tarball) as archive:
        archive.extractall(into, filter="data")
    (found,) = {p.parent for p in into.glob("*/dbt_project.yml")}
    return found


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def prepare_copy(target: Path, packages_dir: Path) -> None:
    """A copy of the project in `target` with both packages installed from local folders and
    the dev configuration merged in (the project's own files are never changed)."""
    copy_project(target)
    utils = _extract(packages_dir / "dbt_utils.tar.gz", target / "vendor" / "utils")
    evaluator = _extract(packages_dir / f"{EVALUATOR}.tar.gz", target / "vendor" / "evaluator")
    # the evaluator asks the package hub for dbt_utils; point it at the local copy instead
    (evaluator / "packages.yml").write_text(yaml.safe_dump({"packages": [{"local": str(utils)}]}))
    (target / "packages.yml").write_text(
        yaml.safe_dump({"packages": [{"local": str(utils)}, {"local": str(evaluator)}]})
    )
    shutil.copytree(DEV_CONFIG / "seeds", target / "seeds" / "project_evaluator")
    project_file = target / "dbt_project.yml"
    project = yaml.safe_load(project_file.read_text())
    config = yaml.safe_load((DEV_CONFIG / "dbt_project.yml").read_text())
    project_file.write_text(yaml.safe_dump(_merge(project, config), sort_keys=False))


def findings(project: Path) -> list[tuple[str, str, int]]:
    """(rule, status, offending rows) of every evaluator test that did not pass, and of every
    node of the run that errored."""
    run_results = project / "target" / "run_results.json"
    if not run_results.is_file():
        raise DbtError("dbt build did not run (see its output above)")
    results = json.loads(run_results.read_text())["results"]
    found = []
    for result in results:
        unique_id = result["unique_id"]
        evaluator_test = unique_id.startswith(f"test.{EVALUATOR}.")
        if (evaluator_test and result["status"] != "pass") or result["status"] == "error":
            found.append((unique_id, result["status"], int(result.get("failures") or 0)))
    return found


def evaluate(packages_dir: Path, url: str | None = None) -> int:
    """Build the evaluator on this project; returns 0 when no rule warns."""
    for tarball in ("dbt_utils.tar.gz", f"{EVALUATOR}.tar.gz"):
        if not (packages_dir / tarball).is_file():
            raise InputError(f"{packages_dir / tarball} not found (see DBT_PACKAGES in Makefile)")
    with (
        tempfile.TemporaryDirectory(prefix="logml-evaluate-") as tmp,
        scratch_database(f"logml_evaluate_{uuid.uuid4().hex[:8]}", url) as scratch,
    ):
        project = Path(tmp) / "project"
        prepare_copy(project, packages_dir)
        os.environ.pop("DBT_TARGET_PATH", None)
        run_dbt(["deps"], scratch, check=True, project_dir=project)
        run_dbt(
            ["build", "--select", f"package:{EVALUATOR}", "dbt_project_evaluator_exceptions"],
            scratch,
            check=False,
            project_dir=project,
        )
        found = findings(project)
    print(f"\n{len(found)} evaluator rule(s) not passing, {sum(n for *_, n in found)} rows")
    for unique_id, status, rows in found:
        print(f"  {status:5} {rows:4}  {unique_id}")
    return 1 if found else 0
