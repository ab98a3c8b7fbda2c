"""The model_export command line imports what each command runs: the compiler and training load
scikit-learn (seconds), and a role change, `versions` or `--help` must not wait for it."""

from __future__ import annotations

import subprocess
import sys

from dbt_project.database import PROJECT_ROOT
from model_export.cli import _parser
from model_export.evaluation.replay_evaluation import GENERATED_ROWS, GENERATED_SEEDS

LIFECYCLE_IMPORTS = """
import sys
import model_export.cli, model_export.lifecycle.registry, model_export.lifecycle.versions
heavy = sorted(m for m in ("sklearn", "pandas", "dbt", "m2cgen") if m in sys.modules)
print(",".join(heavy))
"""


def test_the_lifecycle_commands_load_no_scikit_learn() -> None:
    done = subprocess.run(
        [sys.executable, "-c", LIFECYCLE_IMPORTS],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == ""


def test_the_evaluate_help_states_the_replay_defaults() -> None:
    (evaluate,) = [
        parser
        for action in _parser()._subparsers._group_actions  # type: ignore[union-attr]
        for name, parser in action.choices.items()
        if name == "evaluate"
    ]
    help_text = " ".join(evaluate.format_help().split())
    assert f"default: {GENERATED_ROWS:,}" in help_text
    assert "default: " + " ".join(map(str, GENERATED_SEEDS)) in help_text
