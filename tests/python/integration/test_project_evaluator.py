"""dbt Labs' dbt-project-evaluator on the project, as `make evaluate-project` runs it: no rule
warns (each exception in dev/project_evaluator/ carries its reason). In the suite so that a new
model without a primary-key test, or a mart reading a source, fails the merge instead of
surfacing in a later session."""

from __future__ import annotations

import pytest

from dbt_project.project_evaluator import evaluate
from dev.pipeline import LOGHUB

# The package tarballs sit beside the loghub samples in ../shared (DBT_PACKAGES in the Makefile).
PACKAGES = LOGHUB.parent.parent / "vendor" / "dbt-packages"


def test_no_evaluator_rule_warns(server_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    status = evaluate(PACKAGES, server_url)
    printed = capsys.readouterr().out
    assert "0 evaluator rule(s) not passing, 0 rows" in printed, printed[-4000:]
    assert status == 0
