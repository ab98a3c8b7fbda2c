"""Scripts of the GitHub workflows run against a real database (the static checks of the
workflows are unit tests: tests/python/unit/test_workflows.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from dbt_project.database import PROJECT_ROOT, connect
from dbt_project.migrations import migrate
from tests.python.harness import workflows
from tests.python.harness.workflows import RETRAIN


def _insert_version(url: str, version: str, trained_at: str) -> None:
    with connect(url) as conn, conn.cursor() as cur:
        for name in ("anomaly_detector", "level_classifier"):
            cur.execute(
                "insert into ml.ml_model_registry (model_version, model_name, trained_at,"
                " training_rows, sklearn_version, metrics, artifact_path, is_active)"
                " values (%s, %s, %s, 100, '1.5', %s, %s, false)",
                (version, name, trained_at, json.dumps({"n": version}), f"{version}/{name}"),
            )


def test_metrics_step_writes_the_newest_version(module_db: str, tmp_path: Path) -> None:
    """The step's own script against a real registry: the newest version by number (v10 after
    v9, though v9 was trained later and sorts after it as text), both of its models."""
    with connect(module_db) as conn:
        migrate(conn)
    for version, trained_at in (("v2", "2026-09-01"), ("v10", "2026-10-01"), ("v9", "2026-11-01")):
        _insert_version(module_db, version, trained_at)
    name = "Write the registry metrics of the new version"
    _, step = workflows.find_step(workflows.steps(RETRAIN), name)
    script = step["run"].replace(".venv/bin/python", sys.executable)
    env = {**os.environ, "DATABASE_URL": module_db, "PYTHONPATH": str(PROJECT_ROOT)}
    done = subprocess.run(
        ["bash", "-eo", "pipefail", "-c", script], cwd=tmp_path, env=env, capture_output=True
    )
    assert done.returncode == 0, done.stderr
    written = json.loads((tmp_path / "artifacts" / "retrain-metrics.json").read_text())
    assert written["model_version"] == "v10"
    assert [(m["model_name"], m["metrics"]) for m in written["models"]] == [
        ("anomaly_detector", {"n": "v10"}),
        ("level_classifier", {"n": "v10"}),
    ]
