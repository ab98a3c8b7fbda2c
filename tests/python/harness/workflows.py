"""Reading the GitHub workflows (.github/workflows/) the way tests check them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

from dbt_project.database import PROJECT_ROOT

WORKFLOWS = PROJECT_ROOT / ".github" / "workflows"
ANALYSIS = WORKFLOWS / "ml_analysis.yml"
RETRAIN = WORKFLOWS / "ml_retrain.yml"
RUN_OFTEN = WORKFLOWS / "ml_run_often.yml"


def load(workflow: Path) -> dict[Any, Any]:
    return dict(yaml.safe_load(workflow.read_text()))


def steps(workflow: Path) -> list[dict[str, Any]]:
    """Every step of every job, in order."""
    return [step for job in load(workflow)["jobs"].values() for step in job["steps"]]


def find_step(all_steps: list[dict[str, Any]], name: str) -> tuple[int, dict[str, Any]]:
    """(index, step) of the one step with this name."""
    (found,) = [(i, s) for i, s in enumerate(all_steps) if s.get("name") == name]
    return found
